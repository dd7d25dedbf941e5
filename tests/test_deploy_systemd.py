"""The systemd unit: it verifies, its sandbox scores well, and the runtime survives it.

`systemd-analyze verify` insists that ExecStart's binary exists, and
/opt/edged/venv/bin/edged exists only on an installed Pi. Rather than weaken the
shipped unit (or build a fake root for `--root`, which would also need every
unit it refers to), the verify test checks a temporary copy whose ExecStart
binary is this interpreter: every other line is the shipped unit's.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "deploy" / "systemd" / "edged.service"
SHIPPED_EXEC = "/opt/edged/venv/bin/edged"
MAX_EXPOSURE = 2.0


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze") or (
        "/usr/bin/systemd-analyze" if Path("/usr/bin/systemd-analyze").exists() else None
    )
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian package: systemd)")
    return path


def _systemd_version(analyze: str) -> int:
    out = subprocess.run([analyze, "--version"], capture_output=True, text=True, check=True)
    match = re.match(r"systemd (\d+)", out.stdout)
    assert match, out.stdout
    return int(match.group(1))


def _directives(text: str) -> dict[str, list[str]]:
    """Key → values in order; unit files repeat keys, so no configparser."""
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def _verifiable_copy(tmp_path: Path) -> Path:
    text = UNIT.read_text()
    assert f"ExecStart={SHIPPED_EXEC} " in text
    copy = tmp_path / "edged.service"
    copy.write_text(text.replace(f"ExecStart={SHIPPED_EXEC} ", f"ExecStart={sys.executable} "))
    return copy


def test_unit_runs_the_daemon_as_a_notify_service() -> None:
    d = _directives(UNIT.read_text())
    assert d["ExecStart"] == [f"{SHIPPED_EXEC} run --config /etc/edged/config.yaml"]
    assert d["Type"] == ["notify"]
    # systemctl reload edged: SIGHUP, which the daemon takes as "read the config again".
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert d["DynamicUser"] == ["yes"]
    assert d["ConfigurationDirectory"] == ["edged"]
    assert d["StateDirectory"] == ["edged"]
    assert d["RuntimeDirectory"] == ["edged"]
    assert d["MemoryMax"] == ["300M"]
    assert d["CapabilityBoundingSet"] == [""]
    assert "PYTHONUNBUFFERED=1" in " ".join(d["Environment"]).split()
    # A remote broker must stay reachable: no IP allow-list in the shipped unit.
    assert "IPAddressDeny" not in d
    # onnxruntime reads /proc/cpuinfo on aarch64; ProcSubset=pid would hide it.
    assert "ProcSubset" not in d


def test_verify_is_clean(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    unit = _verifiable_copy(tmp_path)
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    about_unit = [line for line in output.splitlines() if "edged" in line]
    assert result.returncode == 0, output
    assert about_unit == [], output


def test_security_exposure_is_low(tmp_path: Path) -> None:
    analyze = _systemd_analyze()
    version = _systemd_version(analyze)
    assert version >= 250, f"systemd-analyze {version} has no --offline (needs ≥ 250)"
    unit = _verifiable_copy(tmp_path)
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match, output
    assert float(match.group(1)) <= MAX_EXPOSURE, output


# --- The runtime stack inside the unit's seccomp filter and W^X rule ------------------

_SANDBOXED_RUNTIME = textwrap.dedent(
    r"""
    import ctypes, json, mmap, sys

    allowed = json.loads(sys.argv[1])
    model = sys.argv[2]

    # SystemCallFilter= + SystemCallErrorNumber=EPERM, via libseccomp (as systemd does).
    seccomp = ctypes.CDLL("libseccomp.so.2")
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint
    ]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = seccomp.seccomp_init(0x00050000 | 1)  # SCMP_ACT_ERRNO(EPERM)
    assert ctx
    for name in allowed:
        nr = seccomp.seccomp_syscall_resolve_name(name.encode())
        if nr >= 0:  # < 0: not a syscall on this architecture
            assert seccomp.seccomp_rule_add(ctx, 0x7FFF0000, nr, 0) == 0, name  # ALLOW
    assert seccomp.seccomp_load(ctx) == 0

    # MemoryDenyWriteExecute=yes: the kernel's own W^X switch (Linux >= 6.3).
    libc = ctypes.CDLL(None, use_errno=True)
    mdwe = libc.prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    if mdwe:
        try:
            mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            sys.exit("W+X mapping was allowed: MDWE not in force")
        except OSError:
            pass

    import os
    try:
        os.sched_setaffinity(0, {0})
        sys.exit("sched_setaffinity was allowed: the filter is not in force")
    except PermissionError:
        pass

    import asyncio, socket
    import numpy as np, onnxruntime as ort, tokenizers, pydantic, yaml, rapidfuzz
    import aiomqtt, paho.mqtt.client, uvloop

    for threads in (0, 1, 2):  # 0: onnxruntime's default pool, which pins threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        out = session.run(None, {"x": np.ones((1, 11, 16), dtype=np.float32)})[0]
        assert out.shape == (1, 11, 16)

    async def round_trip():
        server = await asyncio.start_server(
            lambda r, w: (w.write(b"pong"), w.close()), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = await reader.read()
        writer.close()
        server.close()
        return data

    assert uvloop.run(round_trip()) == b"pong"
    print(json.dumps({"ok": True, "mdwe": mdwe}))
    """
)


def _expand_syscall_set(analyze: str, name: str, seen: set[str]) -> set[str]:
    """A syscall group of `systemd-analyze syscall-filter`, nested groups expanded."""
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(
        [analyze, "syscall-filter", name], capture_output=True, text=True, check=True
    ).stdout
    calls: set[str] = set()
    for raw in out.splitlines()[1:]:
        item = raw.strip()
        if not item or item.startswith("#"):
            continue
        calls |= _expand_syscall_set(analyze, item, seen) if item.startswith("@") else {item}
    return calls


def _unit_syscall_allow_list(analyze: str) -> set[str]:
    allowed: set[str] = set()
    for value in _directives(UNIT.read_text())["SystemCallFilter"]:
        deny = value.startswith("~")
        names = value.removeprefix("~").split()
        calls: set[str] = set()
        for name in names:
            calls |= _expand_syscall_set(analyze, name, set()) if name.startswith("@") else {name}
        allowed = allowed - calls if deny else allowed | calls
    return allowed


def _tiny_model(path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="onnx (train extra) builds the probe model")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Erf", ["m"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 11, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 11, 16])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_runtime_survives_the_units_syscall_filter(tmp_path: Path) -> None:
    """onnxruntime, numpy, uvloop & co. under the unit's seccomp allow-list and W^X rule.

    Guards the sandbox against a dependency that needs a blocked syscall or JITs:
    that would otherwise only show up on a Pi, as a crash loop.
    """
    analyze = _systemd_analyze()
    pytest.importorskip("onnxruntime")
    if not _has_libseccomp():
        pytest.skip("libseccomp.so.2 is not available (Debian package: libseccomp2)")
    model = tmp_path / "probe.onnx"
    _tiny_model(model)
    allowed = sorted(_unit_syscall_allow_list(analyze))
    assert "sched_setaffinity" not in allowed and "mbind" not in allowed
    result = subprocess.run(
        [sys.executable, "-c", _SANDBOXED_RUNTIME, json.dumps(allowed), str(model)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["ok"]


def _has_libseccomp() -> bool:
    import ctypes.util

    return ctypes.util.find_library("seccomp") is not None

"""Put this directory first on PYTHONPATH to run Python as if torch were not
installed (as on a Pi after `make test` without TORCH=1): `import torch`
raises ModuleNotFoundError and `importlib.util.find_spec("torch")` is None, in
this process and in every Python process it starts with the same environment."""

import sys

sys.modules["torch"] = None  # type: ignore[assignment]

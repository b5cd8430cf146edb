"""Prints the environment report: ``python -m det.utils.collect_env``.

Paste its output into bug reports; it lists python, det, torch, torchvision, CUDA and the GPUs.
"""

from det.utils.env import collect_env_info

__all__ = ["main"]


def main() -> None:
    """Prints :func:`det.utils.env.collect_env_info` to stdout."""
    print(collect_env_info())


if __name__ == "__main__":
    main()

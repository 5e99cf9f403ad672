"""``python -m simulator`` is the ``authsim`` command."""

from simulator.cli import main

if __name__ == "__main__":
    main()

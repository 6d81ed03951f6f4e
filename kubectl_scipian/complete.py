"""Entry point of `kubectl_complete-scipian`, which kubectl (>= 1.26) runs to complete
`kubectl scipian ...`: the words after `scipian` as arguments, the last one the word being
completed; cobra's protocol on stdout (kubectl_scipian.commands.completion)."""

import os
import sys


def main() -> None:
    os.umask(0o077)
    from kubectl_scipian.commands.completion import complete

    try:
        found, directive = complete(sys.argv[1:] or [""], os.environ)
    except Exception:  # completion never shows a traceback to a shell
        found, directive = [], 4
    sys.stdout.write("".join(f"{item}\n" for item in found) + f":{directive}\n")


if __name__ == "__main__":
    main()

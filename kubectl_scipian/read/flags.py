"""The read verbs' flags: each verb's parser, with the help that read/help.py prints from
it (so the help cannot drift from what is parsed).

`metavar` is the default as kubectl's help shows it (`--tail=-1`), where that differs from
the parser's own default (None: "not given").
"""

from __future__ import annotations

import argparse

from kubectl_scipian.read.args import FlagParser


def common(p: FlagParser) -> None:
    p.add_argument("-n", "--namespace", default=None, help=_NAMESPACE)
    p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
    p.add_argument("-l", "--selector", default="", help="label selector (e.g. -l app=web)")
    p.add_argument(
        "--request-timeout", default=None, help="time to wait for one request (e.g. 10s)"
    )
    p.add_argument("-v", "--v", default=None, help=argparse.SUPPRESS)  # kubectl's log level


_NAMESPACE = 'namespace (default: the kubeconfig\'s, else "default")'


def get() -> FlagParser:
    p = FlagParser("get")
    common(p)
    p.add_argument(
        "-o", "--output", default="", help="json|yaml|name|wide|custom-columns=...|jsonpath=..."
    )
    p.add_argument(
        "--field-selector",
        default="",
        help="field selector (e.g. --field-selector status.phase=Running)",
    )
    p.add_argument("--show-labels", action="store_true", help="show all labels as the last column")
    p.add_argument(
        "-L", "--label-columns", action="append", default=[], help="labels to show as columns"
    )
    p.add_argument(
        "--sort-by", default="", help="sort by a JSONPath expression (e.g. '{.metadata.name}')"
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=500,
        help="fetch large lists in chunks of this size (0: no chunking)",
    )
    p.add_argument("--no-headers", action="store_true", help="omit the header row")
    p.add_argument(
        "--show-kind", action="store_true", help="show the resource type in the name column"
    )
    p.add_argument(
        "--show-managed-fields",
        action="store_true",
        help="keep managedFields in json and yaml output",
    )
    p.add_argument(
        "-w", "--watch", action="store_true", help="after listing or getting, watch for changes"
    )
    p.add_argument(
        "--watch-only", action="store_true", help="watch for changes without listing first"
    )
    p.add_argument(
        "--output-watch-events",
        action="store_true",
        help="with --watch or --watch-only, print the event type of each change",
    )
    p.add_argument(
        "--ignore-not-found",
        action="store_true",
        help='treat "resource not found" as a successful retrieval',
    )
    return p


def describe() -> FlagParser:
    p = FlagParser("describe")
    common(p)
    p.add_argument(
        "--show-events",
        nargs="?",
        const="true",
        default=None,
        metavar="true",
        help="show the events related to the described object",
    )
    p.add_argument(
        "--chunk-size", type=int, default=500, help="fetch large lists in chunks of this size"
    )
    return p


def logs() -> FlagParser:
    p = FlagParser("logs")
    common(p)
    p.add_argument("-c", "--container", default="", help="the container to print the logs of")
    p.add_argument("-f", "--follow", action="store_true", help="stream the logs")
    p.add_argument(
        "-p", "--previous", action="store_true", help="the previous instance of the container"
    )
    p.add_argument("--timestamps", action="store_true", help="include timestamps on each line")
    p.add_argument("--all-containers", action="store_true", help="all containers of the pod(s)")
    p.add_argument(
        "--prefix", action="store_true", help="prefix each line with its pod and container"
    )
    p.add_argument(  # None: all, or 10 with -l
        "--tail",
        type=int,
        default=None,
        metavar="-1",
        help="lines of recent log to show (-1: all; 10 with -l)",
    )
    p.add_argument(
        "--since",
        default="",
        metavar="0s",
        help="only logs newer than a relative duration (e.g. 5s, 2m, 3h)",
    )
    p.add_argument("--since-time", default="", help="only logs after a date (RFC3339)")
    p.add_argument(
        "--limit-bytes",
        type=int,
        default=0,
        help="maximum bytes of logs to return (0: no limit)",
    )
    p.add_argument(
        "--max-log-requests",
        type=int,
        default=5,
        help="with -l or TYPE/NAME, concurrent log streams at most",
    )
    p.add_argument("--pod-running-timeout", default="20s", help="time to wait for one pod to run")
    p.add_argument(
        "--ignore-errors", action="store_true", help="with -f, keep going when one stream fails"
    )
    return p


PARSERS = {"get": get, "describe": describe, "logs": logs}

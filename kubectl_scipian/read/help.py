"""`kubectl scipian ENV get|describe|logs -h`: kubectl's usage line and the flags we honour.

Printed without a credential or a request: help must work before login.
"""

from __future__ import annotations

COMMON = """\
  -A, --all-namespaces          list across all namespaces
  -l, --selector=''             label selector (e.g. -l app=web)
  -n, --namespace=''            namespace (default: the kubeconfig's, else "default")
      --request-timeout=''      time to wait for one request (e.g. 10s)
"""

HELP = {
    "get": (
        "Display one or many resources, as `kubectl get` does.",
        "kubectl scipian ENV get [(-o|--output=)json|yaml|name|wide|custom-columns=...|"
        "jsonpath=...] (TYPE[.VERSION][.GROUP] [NAME | -l label] | "
        "TYPE[.VERSION][.GROUP]/NAME ...) [flags]",
        """\
      --chunk-size=500          fetch large lists in chunks of this size (0: no chunking)
      --field-selector=''       field selector (e.g. --field-selector status.phase=Running)
      --ignore-not-found        treat "resource not found" as a successful retrieval
  -L, --label-columns=[]        labels to show as columns
      --no-headers              omit the header row
  -o, --output=''               json|yaml|name|wide|custom-columns=...|jsonpath=...
      --show-kind               show the resource type in the name column
      --show-labels             show all labels as the last column
      --show-managed-fields     keep managedFields in json and yaml output
      --sort-by=''              sort by a JSONPath expression (e.g. '{.metadata.name}')
""",
    ),
    "describe": (
        "Show details of a specific resource or group of resources, as `kubectl describe` does.",
        "kubectl scipian ENV describe (TYPE [NAME_PREFIX | -l label] | TYPE/NAME) [flags]",
        """\
      --chunk-size=500          fetch large lists in chunks of this size
      --show-events=true        show the events related to the described object
""",
    ),
    "logs": (
        "Print the logs for a container in a pod or specified resource, as `kubectl logs` does.",
        "kubectl scipian ENV logs [-f] [-p] (POD | TYPE/NAME) [-c CONTAINER] [flags]",
        """\
      --all-containers          all containers of the pod(s)
  -c, --container=''            the container to print the logs of
  -f, --follow                  stream the logs
      --ignore-errors           with -f, keep going when one stream fails
      --limit-bytes=0           maximum bytes of logs to return (0: no limit)
      --max-log-requests=5      with -l or TYPE/NAME, concurrent log streams at most
  -p, --previous                the previous instance of the container
      --pod-running-timeout=20s time to wait for one pod to run
      --prefix                  prefix each line with its pod and container
      --since=0s                only logs newer than a relative duration (e.g. 5s, 2m, 3h)
      --since-time=''           only logs after a date (RFC3339)
      --tail=-1                 lines of recent log to show (-1: all; 10 with -l)
      --timestamps              include timestamps on each line
""",
    ),
}


def text(verb: str) -> str:
    summary, usage, flags = HELP[verb]
    return f"{summary}\n\nUsage:\n  {usage}\n\nOptions:\n{flags}{COMMON}"

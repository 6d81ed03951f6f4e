module github.com/scipian/kubectl-scipian/tests/tools/pause

go 1.26

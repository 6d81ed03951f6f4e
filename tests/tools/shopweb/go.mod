module github.com/scipian/kubectl-scipian/tests/tools/shopweb

go 1.26

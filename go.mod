module github.com/fusebox-dev/fusebox

go 1.26

module vulcan/go-compat

go 1.21

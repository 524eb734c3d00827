module github.com/strata-os/strata

go 1.26.8

require (
	github.com/godbus/dbus/v5 v5.2.4
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/sys v0.27.0
)

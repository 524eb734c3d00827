module github.com/strata-os/strata

go 1.26.8

require (
	github.com/cavaliergopher/rpm v1.3.0
	github.com/godbus/dbus/v5 v5.2.4
	github.com/klauspost/compress v1.17.8
	github.com/sirupsen/logrus v1.10.2
	github.com/ulikunitz/xz v0.5.12
	golang.org/x/sys v0.27.0
)

require golang.org/x/crypto v0.23.0 // indirect

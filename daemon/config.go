package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/sirupsen/logrus"
)

// DefaultConfigPath is rpm-ostree's daemon configuration file; strata reads
// the same file and keys, so a host keeps its settings.
const DefaultConfigPath = "/etc/rpm-ostreed.conf"

// HostConfig is the [Daemon] group of /etc/rpm-ostreed.conf.
type HostConfig struct {
	// AutomaticUpdatePolicy is none, check or stage.
	AutomaticUpdatePolicy string
	// IdleExitTimeout is how long the daemon stays with no client and no
	// transaction before it exits (D-Bus activation starts it again); 0
	// never exits.
	IdleExitTimeout time.Duration
	// LockLayering refuses changes to layered packages and overrides.
	LockLayering bool
}

// DefaultHostConfig is rpm-ostree's defaults.
func DefaultHostConfig() HostConfig {
	return HostConfig{AutomaticUpdatePolicy: "none", IdleExitTimeout: 60 * time.Second}
}

// ReadHostConfig reads path. A missing file gives the defaults; a line or
// value it cannot use is logged and its default kept, never fatal: a typo
// must not keep the daemon (and so every update) from starting.
func ReadHostConfig(path string, log *logrus.Entry) HostConfig {
	cfg := DefaultHostConfig()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg
	}
	if err != nil {
		log.WithError(err).Warnf("reading %s; using the defaults", path)
		return cfg
	}
	group := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		warn := func(msg string) { log.Warnf("%s line %d: %s; using the default", path, n, msg) }
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			group = line[1 : len(line)-1]
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			warn("expected KEY=VALUE")
			continue
		}
		if group != "Daemon" {
			continue // other groups (rpm-ostree's Experimental, …) are not strata's
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "AutomaticUpdatePolicy":
			switch v := strings.ToLower(value); v {
			case "none", "off":
				cfg.AutomaticUpdatePolicy = "none"
			case "check", "stage":
				cfg.AutomaticUpdatePolicy = v
			case "ex-stage":
				cfg.AutomaticUpdatePolicy = "stage"
			default:
				warn("AutomaticUpdatePolicy must be none, check or stage, not " + strconv.Quote(value))
			}
		case "IdleExitTimeout":
			secs, err := strconv.ParseUint(value, 10, 32)
			if err != nil {
				warn("IdleExitTimeout must be a number of seconds, not " + strconv.Quote(value))
				continue
			}
			cfg.IdleExitTimeout = time.Duration(secs) * time.Second
		case "LockLayering":
			b, err := parseKeyfileBool(value)
			if err != nil {
				warn("LockLayering must be true or false, not " + strconv.Quote(value))
				continue
			}
			cfg.LockLayering = b
		default:
			log.Debugf("%s line %d: %s is not a strata setting; ignored", path, n, key)
		}
	}
	return cfg
}

// checkLayeringAllowed refuses package and override changes while the
// configuration sets LockLayering.
func (d *Daemon) checkLayeringAllowed() *dbus.Error {
	d.mu.Lock()
	locked := d.hostCfg.LockLayering
	d.mu.Unlock()
	if !locked {
		return nil
	}
	return dbus.NewError("org.freedesktop.DBus.Error.Failed", []any{fmt.Sprintf(
		"package layering and overrides are locked on this host (LockLayering=true in %s); change the base with rebase or upgrade instead", d.cfg.ConfigPath)})
}

// parseKeyfileBool accepts GLib keyfile booleans.
func parseKeyfileBool(s string) (bool, error) {
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

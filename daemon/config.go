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
// must not keep the daemon (and so every update) from starting. It returns
// the problems it logged, one line each, for `strata reload` to report.
func ReadHostConfig(path string, log *logrus.Entry) (HostConfig, []string) {
	cfg, problems := ParseHostConfig(path)
	for _, p := range problems {
		log.Warnf("%s; using the default", p)
	}
	return cfg, problems
}

// ParseHostConfig is ReadHostConfig without the logging: the settings, with
// defaults where the file says nothing usable, and what was wrong.
func ParseHostConfig(path string) (HostConfig, []string) {
	cfg := DefaultHostConfig()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, []string{fmt.Sprintf("reading %s: %v", path, err)}
	}
	var problems []string
	group := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		warn := func(msg string) { problems = append(problems, fmt.Sprintf("%s line %d: %s", path, n, msg)) }
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			group = line[1 : len(line)-1]
			continue
		case strings.HasPrefix(line, "["):
			// What follows would silently land in the wrong group.
			warn("malformed group header " + strconv.Quote(line) + " (want [Daemon])")
			group = "(malformed)"
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			warn("expected KEY=VALUE")
			continue
		}
		if group == "" {
			warn(strings.TrimSpace(key) + " is outside any group; put it under [Daemon]")
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
			// Not strata's (or a newer rpm-ostree's): ignored, as unknown
			// keys are by rpm-ostree.
		}
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, fmt.Sprintf("reading %s: %v", path, err))
	}
	return cfg, problems
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

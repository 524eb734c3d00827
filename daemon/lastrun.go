package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/strata-os/strata/transactions"
)

// lastRunFile keeps the record of the last automatic update run in the
// run directory (/run/strata, a tmpfs): it outlives an idle exit of the
// daemon but not a reboot, which is what "no runs since boot" means.
const lastRunFile = "automatic-update.json"

// automaticRun is the daemon's own record of the last AutomaticUpdateTrigger
// run (strata-automatic.service, or any caller). `status` shows it next to
// what systemd says about the timer, and instead of it when systemd cannot
// be asked (a container, the tests).
type automaticRun struct {
	Start time.Time `json:"start"`
	// End is zero while the run is in progress.
	End     time.Time `json:"end,omitempty"`
	Mode    string    `json:"mode"` // check or stage
	Success bool      `json:"success"`
	// Message says what the run did ("no update available", "staged
	// 2.0 (…)") or why it failed.
	Message string `json:"message"`
}

// wire is the Sysroot property LastAutomaticUpdate (a{sv}, a strata
// extension): empty when nothing ran since boot.
func (r *automaticRun) wire() map[string]dbus.Variant {
	if r == nil {
		return map[string]dbus.Variant{}
	}
	out := map[string]dbus.Variant{
		"start-usec": dbus.MakeVariant(uint64(r.Start.UnixMicro())),
		"mode":       dbus.MakeVariant(r.Mode),
		"success":    dbus.MakeVariant(r.Success),
		"message":    dbus.MakeVariant(r.Message),
	}
	if !r.End.IsZero() {
		out["end-usec"] = dbus.MakeVariant(uint64(r.End.UnixMicro()))
	}
	return out
}

// loadLastRun reads the record a previous daemon of this boot left; a
// missing or unreadable one means no run since boot.
func (d *Daemon) loadLastRun() {
	data, err := os.ReadFile(filepath.Join(d.cfg.RunDir, lastRunFile))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.log.WithError(err).Warn("reading the last automatic update record")
		}
		return
	}
	var r automaticRun
	if err := json.Unmarshal(data, &r); err != nil {
		d.log.WithError(err).Warn("the last automatic update record does not parse; ignoring it")
		return
	}
	if r.End.IsZero() {
		// The daemon that started it is gone: the run did not finish.
		r.End, r.Message = r.Start, "interrupted: the daemon stopped before the run ended"
	}
	d.publishLastRun(&r, false)
}

// publishLastRun sets the property and, when persist is set, writes the
// record (atomically: a reader never sees half a file).
func (d *Daemon) publishLastRun(r *automaticRun, persist bool) {
	d.sysrootProps.set(SysrootIface, "LastAutomaticUpdate", r.wire())
	if !persist {
		return
	}
	data, err := json.Marshal(r)
	if err == nil {
		path := filepath.Join(d.cfg.RunDir, lastRunFile)
		tmp := path + ".tmp"
		if err = os.WriteFile(tmp, data, 0o644); err == nil {
			err = os.Rename(tmp, path)
		}
	}
	if err != nil {
		d.log.WithError(err).Warn("recording the automatic update run")
	}
}

// recordAutomatic wraps an automatic update run (which returns what it
// did) so that its start and its outcome are recorded.
func (d *Daemon) recordAutomatic(mode string, run func(ctx context.Context, p transactions.Progress) (string, error)) func(ctx context.Context, p transactions.Progress) error {
	return func(ctx context.Context, p transactions.Progress) error {
		r := &automaticRun{Start: time.Now(), Mode: mode, Message: "running"}
		d.publishLastRun(r, true)
		did, err := run(ctx, p)
		done := *r
		done.End = time.Now()
		if err != nil {
			done.Message = "failed: " + err.Error()
		} else {
			done.Success, done.Message = true, did
		}
		d.publishLastRun(&done, true)
		return err
	}
}

// cachedUpdateOutcome says what a check found for osname.
func (d *Daemon) cachedUpdateOutcome(ctx context.Context, osname string) string {
	st, err := d.engine.State(ctx, true)
	if err != nil || st == nil || st.Updates[osname] == nil {
		return "no update available"
	}
	u := st.Updates[osname]
	return "update available: " + describeVersion(u.Version, u.Checksum)
}

func describeVersion(version, checksum string) string {
	short := checksum
	if len(short) > 12 {
		short = short[:12]
	}
	if version == "" {
		return short
	}
	return version + " (" + short + ")"
}

// describeCommit names a deployed commit by its version when it has one.
func (d *Daemon) describeCommit(ctx context.Context, checksum string) string {
	st, err := d.engine.State(ctx, true)
	if err == nil && st != nil {
		for _, dep := range st.Deployments {
			if dep.Checksum == checksum {
				return describeVersion(dep.Version, checksum)
			}
		}
	}
	return describeVersion("", checksum)
}

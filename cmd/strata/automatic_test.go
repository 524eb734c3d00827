package main

import (
	"testing"
	"time"

	"github.com/strata-os/strata/client"
)

func TestAutomaticSummary(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	ok := &client.AutomaticRun{Start: now.Add(-5 * time.Minute), End: now.Add(-4*time.Minute - 30*time.Second), Mode: "check", Success: true, Message: "no update available"}
	failed := &client.AutomaticRun{Start: now.Add(-time.Hour), End: now.Add(-time.Hour), Mode: "stage", Message: "failed: boom"}
	running := &client.AutomaticRun{Start: now.Add(-time.Second), Mode: "check", Message: "running"}
	for _, c := range []struct {
		name string
		v    timerView
		want string
	}{
		{"no systemd, nothing ran", timerView{}, "strata-automatic.timer: no runs since boot"},
		{"no systemd, ran", timerView{record: ok}, "strata-automatic.timer: last run 4min 30s ago"},
		{"no systemd, failed", timerView{record: failed}, "strata-automatic.service: last run failed"},
		{"no systemd, running", timerView{record: running}, "strata-automatic.service: running"},
		// systemd's view wins over the daemon's record.
		{"systemd: timer off", timerView{sdKnown: true, sdState: client.TimerInactive, record: ok}, "strata-automatic.timer: inactive"},
		{"systemd: failed", timerView{sdKnown: true, sdState: client.ServiceFailed, record: ok}, "strata-automatic.service: last run failed"},
		{"systemd: running", timerView{sdKnown: true, sdState: client.ServiceRunning}, "strata-automatic.service: running"},
		{"systemd: exited", timerView{sdKnown: true, sdState: client.ServiceExited, sdLast: now.Add(-4*time.Hour - 32*time.Minute), record: failed}, "strata-automatic.timer: last run 4h 32min ago"},
		{"systemd: no run", timerView{sdKnown: true, sdState: client.ServiceExited, record: ok}, "strata-automatic.timer: no runs since boot"},
		{"systemd: unknown", timerView{sdKnown: true, sdState: client.TimerUnknown}, "strata-automatic.timer: unknown state"},
	} {
		if got := automaticSummary(c.v, now); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if got, want := automaticDetail(ok, now), "  LastRun: check at 2026-12-05T11:55:00Z (5min ago): no update available"; got != want {
		t.Errorf("detail %q, want %q", got, want)
	}
}

func TestRelativeTime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                             "now",
		500 * time.Microsecond:        "500us ago",
		12 * time.Second:              "12s ago",
		3*time.Minute + 2*time.Second: "3min 2s ago",
		17 * time.Minute:              "17min ago",
		time.Hour + 5*time.Minute:     "1h 5min ago",
		7 * time.Hour:                 "7h ago",
		26 * time.Hour:                "1 day 2h ago",
		3 * 24 * time.Hour:            "3 days ago",
		9 * 24 * time.Hour:            "1 week 2 days ago",
		400 * 24 * time.Hour:          "1 year 1 month ago",
	} {
		if got := relativeTime(d); got != want {
			t.Errorf("relativeTime(%v) = %q, want %q", d, got, want)
		}
	}
}

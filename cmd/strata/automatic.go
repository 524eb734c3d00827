package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/strata-os/strata/client"
)

// timerView is what status knows about the automatic update timer: from
// systemd when it answered (sdKnown), and the daemon's own record of its
// last run.
type timerView struct {
	sdKnown bool
	sdState client.TimerState
	sdLast  time.Time
	record  *client.AutomaticRun
}

// systemdTimeout bounds the questions to systemd: status must not hang on
// a wedged PID 1.
const systemdTimeout = 3 * time.Second

// readTimer asks systemd about the timer; with no systemd on the bus (a
// container, the tests) the daemon's record alone is used. Other failures
// leave the state unknown, as rpm-ostree does.
func readTimer(ctx context.Context, c *client.Client, record *client.AutomaticRun) timerView {
	v := timerView{record: record}
	ctx, cancel := context.WithTimeout(ctx, systemdTimeout)
	defer cancel()
	state, last, err := c.AutomaticTimer(ctx)
	switch {
	case errors.Is(err, client.ErrNoSystemd):
	case err != nil:
		v.sdKnown, v.sdState = true, client.TimerUnknown
	default:
		v.sdKnown, v.sdState, v.sdLast = true, state, last
	}
	return v
}

// automaticSummary is what follows "AutomaticUpdates: POLICY; " in status,
// worded as rpm-ostree's. systemd's view wins when it answered: it knows
// about runs that never reached the daemon (a service that failed before
// calling it) and about a stopped timer. Without systemd the daemon's
// record says the same things.
func automaticSummary(v timerView, now time.Time) string {
	timer, service := client.AutomaticTimerUnit, client.AutomaticServiceUnit
	if v.sdKnown {
		switch v.sdState {
		case client.TimerInactive:
			return timer + ": inactive"
		case client.ServiceFailed:
			return service + ": last run failed"
		case client.ServiceRunning:
			return service + ": running"
		case client.ServiceExited:
			if v.sdLast.IsZero() {
				return timer + ": no runs since boot"
			}
			return timer + ": last run " + relativeTime(now.Sub(v.sdLast))
		default:
			return timer + ": unknown state"
		}
	}
	r := v.record
	switch {
	case r == nil:
		return timer + ": no runs since boot"
	case r.End.IsZero():
		return service + ": running"
	case !r.Success:
		return service + ": last run failed"
	default:
		return timer + ": last run " + relativeTime(now.Sub(r.End))
	}
}

// automaticDetail is the `status -v` line under AutomaticUpdates: what the
// daemon recorded of its last automatic run.
func automaticDetail(r *client.AutomaticRun, now time.Time) string {
	if r == nil {
		return ""
	}
	when := r.Start.UTC().Format(time.RFC3339)
	return fmt.Sprintf("  LastRun: %s at %s (%s): %s", r.Mode, when, relativeTime(now.Sub(r.Start)), r.Message)
}

// relativeTime words a past duration the way systemd's relative timestamps
// read ("4h 32min ago"): the largest unit, and the next one while it still
// matters.
func relativeTime(d time.Duration) string {
	const (
		day   = 24 * time.Hour
		week  = 7 * day
		month = 30*day + 10*time.Hour + 30*time.Minute // systemd's average month
		year  = 365*day + 6*time.Hour
	)
	n := func(x, unit time.Duration) int64 { return int64(x / unit) }
	plural := func(k int64, one, many string) string {
		if k == 1 {
			return fmt.Sprintf("%d %s", k, one)
		}
		return fmt.Sprintf("%d %s", k, many)
	}
	switch {
	case d <= 0:
		return "now"
	case d >= year:
		return plural(n(d, year), "year", "years") + " " + plural(n(d%year, month), "month", "months") + " ago"
	case d >= month:
		return plural(n(d, month), "month", "months") + " " + plural(n(d%month, day), "day", "days") + " ago"
	case d >= week:
		return plural(n(d, week), "week", "weeks") + " " + plural(n(d%week, day), "day", "days") + " ago"
	case d >= 2*day:
		return plural(n(d, day), "day", "days") + " ago"
	case d >= 25*time.Hour:
		return fmt.Sprintf("1 day %dh ago", n(d-day, time.Hour))
	case d >= 6*time.Hour:
		return fmt.Sprintf("%dh ago", n(d, time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dmin ago", n(d, time.Hour), n(d%time.Hour, time.Minute))
	case d >= 5*time.Minute:
		return fmt.Sprintf("%dmin ago", n(d, time.Minute))
	case d >= time.Minute:
		return fmt.Sprintf("%dmin %ds ago", n(d, time.Minute), n(d%time.Minute, time.Second))
	case d >= time.Second:
		return fmt.Sprintf("%ds ago", n(d, time.Second))
	case d >= time.Millisecond:
		return fmt.Sprintf("%dms ago", n(d, time.Millisecond))
	default:
		return fmt.Sprintf("%dus ago", n(d, time.Microsecond))
	}
}

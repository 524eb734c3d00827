package main

import (
	"context"
	"time"

	"github.com/strata-os/strata/client"
)

// Status targets (issue 16): the whole `strata status` process against the
// whole `ostree admin status` process on the same sysroot, and the daemon's
// own answer (one GetAll of the Sysroot properties over an open connection).
const (
	statusTarget     = 0.50
	statusDaemonGoal = 50 * time.Millisecond
	statusPairs      = 15 // status is cheap: more pairs than the other measurements
)

// statusResult is the outcome of the status measurement.
type statusResult struct {
	ratio          float64
	strata, ostree []time.Duration
	daemon         time.Duration // median daemon-side answer
}

// measureStatus alternates `ostree admin status` and `strata status` on
// the install measurement's sysroot (after its installs: several
// deployments, one with a layered package), then times the daemon's answer
// alone over one connection.
func measureStatus(ctx context.Context, e *installEnv) (*statusResult, error) {
	res := &statusResult{}
	var ratios []float64
	// One untimed run of each: page cache, the daemon's first snapshot.
	if err := runTool(ctx, "ostree", "admin", "status", "--sysroot="+e.sysroot); err != nil {
		return nil, err
	}
	if _, _, err := e.strata(ctx, "status"); err != nil {
		return nil, err
	}
	for i := 0; i < statusPairs; i++ {
		start := time.Now()
		if err := runTool(ctx, "ostree", "admin", "status", "--sysroot="+e.sysroot); err != nil {
			return nil, err
		}
		od := time.Since(start)
		_, sd, err := e.strata(ctx, "status")
		if err != nil {
			return nil, err
		}
		res.ostree = append(res.ostree, od)
		res.strata = append(res.strata, sd)
		ratios = append(ratios, sd.Seconds()/od.Seconds())
	}
	res.ratio = median(ratios)

	c, err := client.ConnectAddress(ctx, e.bus.Address, "bench")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var answers []time.Duration
	for i := 0; i < statusPairs; i++ {
		start := time.Now()
		if _, err := c.Status(ctx); err != nil {
			return nil, err
		}
		answers = append(answers, time.Since(start))
	}
	res.daemon = medianDur(answers)
	return res, nil
}

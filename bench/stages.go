package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// stageLog receives the daemon's log as it is written and stamps each line
// with the time it arrived. The daemon logs every progress message of a
// transaction, so the gaps between them time the stages of an install at
// millisecond resolution (logrus' own timestamps have seconds).
type stageLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []stampedLine
	next    io.Writer // also gets everything, when not nil
}

type stampedLine struct {
	at   time.Time
	line string
}

func (s *stageLog) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	s.partial = append(s.partial, p...)
	for {
		i := strings.IndexByte(string(s.partial), '\n')
		if i < 0 {
			break
		}
		s.lines = append(s.lines, stampedLine{now, string(s.partial[:i])})
		s.partial = s.partial[i+1:]
	}
	s.mu.Unlock()
	if s.next != nil {
		s.next.Write(p)
	}
	return len(p), nil
}

// mark is a position in the log, for stagesSince.
func (s *stageLog) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

var (
	logMsg = regexp.MustCompile(`msg="((?:[^"\\]|\\.)*)"`)
	logTxn = regexp.MustCompile(`\btxn=`)
)

// stageTime is one stage of a transaction: a progress message and the time
// until the next one.
type stageTime struct {
	name string
	took time.Duration
}

// stagesSince lists the stages of the transaction logged after mark: each
// progress message and how long until the next one, ending at "transaction
// succeeded" (the first stage, "start", runs from the daemon's start of the
// transaction to its first message).
func (s *stageLog) stagesSince(mark int) []stageTime {
	s.mu.Lock()
	lines := append([]stampedLine(nil), s.lines[mark:]...)
	s.mu.Unlock()
	type stage struct {
		name string
		at   time.Time
	}
	var stages []stage
	for _, l := range lines {
		if !logTxn.MatchString(l.line) {
			continue
		}
		m := logMsg.FindStringSubmatch(l.line)
		if m == nil {
			continue
		}
		msg := m[1]
		switch {
		case msg == "transaction created", strings.HasPrefix(msg, "Packages to layer"):
			continue
		case msg == "transaction started":
			msg = "start"
		}
		stages = append(stages, stage{msg, l.at})
		if msg == "transaction succeeded" || msg == "transaction failed" {
			break
		}
	}
	var out []stageTime
	for i := 0; i+1 < len(stages); i++ {
		out = append(out, stageTime{stages[i].name, stages[i+1].at.Sub(stages[i].at)})
	}
	return out
}

// formatStages is e.g. "Resolving dependencies 40ms, Writing deployment
// 1900ms".
func formatStages(stages []stageTime) string {
	var parts []string
	for _, st := range stages {
		parts = append(parts, fmt.Sprintf("%s %s", st.name, ms(st.took)))
	}
	return strings.Join(parts, ", ")
}

// medianStages is the median of each stage over several runs (stages named
// alike are merged; package names in messages are generalised), in the
// order of the first run, followed by what the client saw beyond the
// daemon's transaction (connecting, creating and finishing it): the median
// whole install minus the median sum of the stages.
func medianStages(runs [][]stageTime, whole []time.Duration) string {
	byName := map[string][]time.Duration{}
	var order []string
	var sums []time.Duration
	for _, run := range runs {
		var sum time.Duration
		for _, st := range run {
			name := stageName(st.name)
			if _, ok := byName[name]; !ok {
				order = append(order, name)
			}
			byName[name] = append(byName[name], st.took)
			sum += st.took
		}
		sums = append(sums, sum)
	}
	var parts []string
	for _, name := range order {
		parts = append(parts, fmt.Sprintf("%s %s", name, ms(medianDur(byName[name]))))
	}
	if len(whole) > 0 {
		parts = append(parts, fmt.Sprintf("outside the transaction (CLI, bus, setup) %s", ms(medianDur(whole)-medianDur(sums))))
	}
	return strings.Join(parts, ", ")
}

// stageName drops what varies between runs from a progress message (the
// package names and counts), so that the same stage of several runs
// merges.
var stageVarying = regexp.MustCompile(`bench-pkg\d+|\d+ package\(s\)`)

func stageName(msg string) string {
	return stageVarying.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.HasPrefix(m, "bench-pkg") {
			return "PKG"
		}
		return "N package(s)"
	})
}

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

// stagesSince describes the transaction logged after mark: each progress
// message's name and how long until the next one, ending at "transaction
// succeeded", e.g. "Resolving dependencies 40ms, Writing deployment 1900ms".
func (s *stageLog) stagesSince(mark int) string {
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
	var parts []string
	for i := 0; i+1 < len(stages); i++ {
		parts = append(parts, fmt.Sprintf("%s %s", stages[i].name, ms(stages[i+1].at.Sub(stages[i].at))))
	}
	return strings.Join(parts, ", ")
}

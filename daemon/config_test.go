package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestReadHostConfig(t *testing.T) {
	def := DefaultHostConfig()
	for _, tt := range []struct {
		name, file string
		want       HostConfig
		warns      string // a logged warning must contain this ("" for none)
	}{
		{"missing file", "", def, ""},
		{"rpm-ostree's keys", "# comment\n[Daemon]\nAutomaticUpdatePolicy=stage\nIdleExitTimeout=0\nLockLayering=true\n",
			HostConfig{AutomaticUpdatePolicy: "stage", LockLayering: true}, ""},
		{"off is none", "[Daemon]\nAutomaticUpdatePolicy=off\n", def, ""},
		{"other groups ignored", "[Experimental]\nIdleExitTimeout=5\n[Daemon]\nIdleExitTimeout=30\n",
			HostConfig{AutomaticUpdatePolicy: "none", IdleExitTimeout: 30 * time.Second}, ""},
		{"bad policy keeps the default", "[Daemon]\nAutomaticUpdatePolicy=sometimes\nIdleExitTimeout=5\n",
			HostConfig{AutomaticUpdatePolicy: "none", IdleExitTimeout: 5 * time.Second}, "line 2: AutomaticUpdatePolicy must be none, check or stage"},
		{"bad timeout", "[Daemon]\nIdleExitTimeout=-3\n", def, "IdleExitTimeout must be a number of seconds"},
		{"bad bool", "[Daemon]\nLockLayering=maybe\n", def, "LockLayering must be true or false"},
		{"not key=value", "[Daemon]\njunk\n", def, "line 2: expected KEY=VALUE"},
		{"malformed group", "[Daemon\nAutomaticUpdatePolicy=check\n", def, "line 1: malformed group header"},
		{"no group", "AutomaticUpdatePolicy=check\n", def, "line 1: AutomaticUpdatePolicy is outside any group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rpm-ostreed.conf")
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var logs bytes.Buffer
			l := logrus.New()
			l.SetOutput(&logs)
			got, _ := ReadHostConfig(path, logrus.NewEntry(l))
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if tt.warns == "" && strings.Contains(logs.String(), "level=warn") {
				t.Errorf("unexpected warning: %s", logs.String())
			}
			if tt.warns != "" && !strings.Contains(logs.String(), tt.warns) {
				t.Errorf("log %q lacks %q", logs.String(), tt.warns)
			}
		})
	}
}

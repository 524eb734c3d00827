package transactions

import (
	"strings"
	"testing"
)

func TestApplyKargs(t *testing.T) {
	base := "root=UUID=1 quiet console=tty0 console=ttyS0 mem=1G"
	for _, tt := range []struct {
		name string
		ch   KargsChange
		want string // the result, when err is ""
		err  string // a part of the expected error
	}{
		{"append", KargsChange{Append: []string{"foo=bar", "quiet"}}, "root=UUID=1 quiet console=tty0 console=ttyS0 mem=1G foo=bar quiet", ""},
		{"append if missing", KargsChange{AppendIfMissing: []string{"quiet", "nosmt"}}, "root=UUID=1 quiet console=tty0 console=ttyS0 mem=1G nosmt", ""},
		{"delete by key", KargsChange{Delete: []string{"quiet"}}, "root=UUID=1 console=tty0 console=ttyS0 mem=1G", ""},
		{"delete one value", KargsChange{Delete: []string{"console=tty0"}}, "root=UUID=1 quiet console=ttyS0 mem=1G", ""},
		{"delete ambiguous", KargsChange{Delete: []string{"console"}}, "", "Multiple values for key 'console' found"},
		{"delete absent", KargsChange{Delete: []string{"nope"}}, "", "not present"},
		{"delete if present", KargsChange{DeleteIfPresent: []string{"nope", "quiet"}}, "root=UUID=1 console=tty0 console=ttyS0 mem=1G", ""},
		{"replace value", KargsChange{Replace: []string{"mem=2G"}}, "root=UUID=1 quiet console=tty0 console=ttyS0 mem=2G", ""},
		{"replace one of several", KargsChange{Replace: []string{"console=ttyS0=ttyS1"}}, "root=UUID=1 quiet console=tty0 console=ttyS1 mem=1G", ""},
		// As in libostree, a second "=" means KEY=OLD=NEW.
		{"value containing =", KargsChange{Replace: []string{"root=UUID=2"}}, "", "no kernel argument"},
		{"replace ambiguous", KargsChange{Replace: []string{"console=ttyS1"}}, "", "Multiple values for key 'console' found"},
		{"replace absent", KargsChange{Replace: []string{"nope=1"}}, "", "no kernel argument"},
		{"replace without value", KargsChange{Replace: []string{"quiet"}}, "", "KEY=VALUE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyKargs(strings.Fields(base), tt.ch)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("applyKargs = %v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || strings.Join(got, " ") != tt.want {
				t.Fatalf("applyKargs = %q, %v; want %q", strings.Join(got, " "), err, tt.want)
			}
		})
	}
}

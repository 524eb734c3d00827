package main

import (
	"strings"
	"testing"
)

func TestParseEditedKargs(t *testing.T) {
	before := "rw quiet console=ttyS0"
	for _, tt := range []struct {
		name, text, want, err string
	}{
		{"joined lines, comments dropped", kargsEditorText(before) + "foo=bar\n  baz  \n", "rw quiet console=ttyS0 foo=bar baz", ""},
		{"unchanged", kargsEditorText(before), "", "The kernel arguments remained the same"},
		{"empty", "# nothing\n\n", "", "The kernel arguments can not be empty"},
		{"ostree argument", "rw ostree=/ostree/boot.1/x\n", "", "You have an 'ostree' argument in your input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEditedKargs(before, tt.text)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseEditedKargs = %q, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseEditedKargs = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestKargsEditorTextHidesNothingButComments(t *testing.T) {
	text := kargsEditorText("a=1 b")
	if got, err := parseEditedKargs("", text); err != nil || got != "a=1 b" {
		t.Errorf("round trip = %q, %v", got, err)
	}
}

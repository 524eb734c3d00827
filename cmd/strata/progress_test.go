package main

import (
	"bytes"
	"testing"

	"github.com/strata-os/strata/client"
)

var sampleEvents = []client.Event{
	client.Message{Text: "Pulling manifest"},
	client.TaskBegin{Text: "Checking out tree"},
	client.TaskEnd{Text: ""},
	client.DownloadProgress{OutstandingFetches: 2, Fetched: 5, Requested: 10, BytesTransferred: 1500, BytesPerSec: 0},
	client.DownloadProgress{OutstandingFetches: 1, Fetched: 10, Requested: 10, BytesTransferred: 2500000, BytesPerSec: 1000},
	client.ProgressEnd{},
	client.PercentProgress{Text: "Writing objects", Percent: 50},
	client.Message{Text: "note in the middle"},
	client.PercentProgress{Text: "Writing objects", Percent: 100},
	client.ProgressEnd{},
	client.TaskBegin{Text: "Staging deployment"},
	client.TaskEnd{Text: "skipped"},
}

func TestProgressPlain(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false)
	for _, e := range sampleEvents {
		p.handle(e)
	}
	p.finish()
	want := "Pulling manifest\n" +
		"Checking out tree...done\n" +
		"Receiving objects; 50% (5/10) -/s 1.5 kB...done\n" +
		"Writing objects...\nnote in the middle\ndone\n" +
		"Staging deployment...skipped\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestProgressTTY(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, true)
	for _, e := range sampleEvents[:4] {
		p.handle(e)
	}
	p.handle(client.ProgressEnd{})
	want := "Pulling manifest\n" +
		"\r\x1b[KChecking out tree...\r\x1b[KChecking out tree... done\n" +
		"\r\x1b[KReceiving objects; 50% (5/10) -/s 1.5 kB\r\x1b[KReceiving objects; 50% (5/10) -/s 1.5 kB... done\n"
	if b.String() != want {
		t.Errorf("got:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 bytes", 1: "1 byte", 999: "999 bytes", 1000: "1.0 kB", 2500000: "2.5 MB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// An image pull: one bar per layer, each left as a finished line.
func TestProgressLayers(t *testing.T) {
	events := []client.Event{
		client.Message{Text: "Pulling image ostree-unverified-registry:r/os:1"},
		client.PercentProgress{Text: "Fetching layer 1/2 sha256:0123456789ab (1.2 MB)", Percent: 0},
		client.PercentProgress{Text: "Fetching layer 1/2 sha256:0123456789ab (1.2 MB)", Percent: 100},
		client.PercentProgress{Text: "Fetching layer 2/2 sha256:ba9876543210 (3 kB)", Percent: 100},
		client.ProgressEnd{},
	}
	var plain bytes.Buffer
	p := newProgress(&plain, false)
	for _, e := range events {
		p.handle(e)
	}
	want := "Pulling image ostree-unverified-registry:r/os:1\n" +
		"Fetching layer 1/2 sha256:0123456789ab (1.2 MB)...done\n" +
		"Fetching layer 2/2 sha256:ba9876543210 (3 kB)...done\n"
	if plain.String() != want {
		t.Errorf("plain:\n%q\nwant:\n%q", plain.String(), want)
	}
	var tty bytes.Buffer
	p = newProgress(&tty, true)
	for _, e := range events {
		p.handle(e)
	}
	if got := bytes.Count(tty.Bytes(), []byte("... done\n")); got != 2 {
		t.Errorf("tty: %d finished layer lines, want 2:\n%q", got, tty.String())
	}
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/strata-os/strata/client"
)

// progress renders transaction events. On a terminal the current task or
// bar is one line redrawn in place ("\r" + clear); elsewhere (logs, pipes)
// each task prints "Text..." when it starts and its suffix ("done") when it
// ends, and bars print nothing in between, so logs stay readable.
type progress struct {
	w      io.Writer
	tty    bool
	active bool   // a task or bar is open
	label  string // its text, reused in the final "Text... done" line
	line   string // what is drawn now (tty only)
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (p *progress) handle(e client.Event) {
	switch e := e.(type) {
	case client.Attached:
		p.message(fmt.Sprintf("Attaching to existing transaction: %s", e.Title))
	case client.Message:
		p.message(e.Text)
	case client.TaskBegin:
		p.end("")
		p.begin(e.Text, e.Text+"...")
	case client.TaskEnd:
		p.end(e.Text)
	case client.PercentProgress:
		if !p.active || p.label != e.Text {
			p.end("")
			p.begin(e.Text, e.Text)
		}
		p.draw(fmt.Sprintf("%s %3d%% [%s]", e.Text, e.Percent, bar(e.Percent, 20)))
	case client.DownloadProgress:
		text := renderDownload(e)
		if !p.active {
			p.begin(text, text)
		} else {
			p.label = text
			p.draw(text)
		}
	case client.ProgressEnd:
		p.end("")
	}
	// SignatureProgress is deliberately silent: signatures are verified on
	// every pull and printing each one drowns the progress.
}

// begin opens a task or bar; on a pipe it prints "label..." right away.
func (p *progress) begin(label, drawn string) {
	p.active, p.label = true, label
	if p.tty {
		p.draw(drawn)
		return
	}
	fmt.Fprintf(p.w, "%s...", label)
}

func (p *progress) draw(s string) {
	if !p.tty {
		return
	}
	p.line = s
	fmt.Fprintf(p.w, "\r\x1b[K%s", s)
}

// end closes the open task with suffix (default "done").
func (p *progress) end(suffix string) {
	if !p.active {
		return
	}
	if suffix == "" {
		suffix = "done"
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s... %s\n", p.label, suffix)
	} else {
		fmt.Fprintln(p.w, suffix)
	}
	p.active, p.label, p.line = false, "", ""
}

// message prints a line of its own without losing an open task.
func (p *progress) message(text string) {
	switch {
	case p.active && p.tty:
		fmt.Fprintf(p.w, "\r\x1b[K%s\n%s", text, p.line)
	case p.active:
		// The task's "label..." is still waiting for its suffix.
		fmt.Fprintf(p.w, "\n%s\n", text)
	default:
		fmt.Fprintln(p.w, text)
	}
}

// finish closes whatever is open when the transaction ends.
func (p *progress) finish() {
	if p.active && p.tty {
		fmt.Fprint(p.w, "\r\x1b[K")
	} else if p.active {
		fmt.Fprintln(p.w)
	}
	p.active = false
}

func bar(percent uint32, width int) string {
	if percent > 100 {
		percent = 100
	}
	n := int(percent) * width / 100
	return strings.Repeat("=", n) + strings.Repeat(" ", width-n)
}

// renderDownload words an ostree pull's state, following what rpm-ostree
// shows: delta parts, metadata scan, object counts, or writes.
func renderDownload(d client.DownloadProgress) string {
	if d.OutstandingFetches > 0 {
		speed := "-"
		if d.BytesPerSec > 0 {
			speed = formatSize(d.BytesPerSec)
		}
		got := formatSize(d.BytesTransferred)
		switch {
		case d.TotalDeltaParts > 0:
			return fmt.Sprintf("Receiving delta parts: %d/%d %s/s %s/%s",
				d.FetchedDeltaParts, d.TotalDeltaParts, speed, got, formatSize(d.TotalDeltaPartSize))
		case d.OutstandingMetadataFetches > 0:
			return fmt.Sprintf("Receiving metadata objects: %d/(estimating) %s/s %s", d.MetadataFetched, speed, got)
		default:
			pct := 0
			if d.Requested > 0 {
				pct = int(uint64(d.Fetched) * 100 / uint64(d.Requested))
			}
			return fmt.Sprintf("Receiving objects; %d%% (%d/%d) %s/s %s", pct, d.Fetched, d.Requested, speed, got)
		}
	}
	if d.OutstandingWrites > 0 {
		return fmt.Sprintf("Writing objects: %d", d.OutstandingWrites)
	}
	return fmt.Sprintf("Scanning metadata: %d", d.ScannedMetadata)
}

// formatSize uses SI units with one decimal, as GLib's g_format_size does.
func formatSize(n uint64) string {
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	v := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB", "PB"} {
		v /= 1000
		if v < 1000 {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return fmt.Sprintf("%.1f EB", v/1000)
}

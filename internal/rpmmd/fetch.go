package rpmmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// stallTimeout is how long a download may go without receiving a byte
// before it is abandoned; a whole-request timeout would cut off large but
// healthy downloads on slow links.
const stallTimeout = 60 * time.Second

// errStalled is the cancellation cause of a download that stopped moving.
var errStalled = errors.New("no data received for 60s; the server stalled")

// ChecksumError is a downloaded file whose checksum or size is not the one
// the repository metadata promised.
type ChecksumError struct {
	RepoID   string
	What     string // "primary", "filelists", "package foo-1-1.noarch.rpm"
	URL      string
	Expected string // "sha256:<hex>", or "<n> bytes" for a size
	Got      string
	Size     bool // the size was wrong, not the digest
}

func (e *ChecksumError) Error() string {
	kind := "checksum"
	if e.Size {
		kind = "size"
	}
	return fmt.Sprintf("%s %s mismatch (expected %s, got %s) at %s; the repository is corrupt or changing, try again",
		e.What, kind, e.Expected, e.Got, e.URL)
}

func newDefaultClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 30 * time.Second
	tr.ResponseHeaderTimeout = 60 * time.Second
	return &http.Client{Transport: tr}
}

// joinURL resolves a checked href against a baseurl, which may or may not end
// in a slash and may carry a query string (kept, as signed URLs need it).
func joinURL(base, href string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("baseurl %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "https", "file":
	default:
		return "", fmt.Errorf("baseurl %q: unsupported scheme %q (use http, https or file)", base, u.Scheme)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + href
	u.RawPath = ""
	u.Fragment = ""
	return u.String(), nil
}

// open starts reading rawURL and returns the body and its size (-1 when
// unknown).
func (c *Cache) open(ctx context.Context, rawURL string) (io.ReadCloser, int64, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, 0, err
	}
	if u.Scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return nil, 0, fmt.Errorf("file URL with host %q is not supported", u.Host)
		}
		f, err := os.Open(u.Path)
		if err != nil {
			return nil, 0, err
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			f.Close()
			return nil, 0, fmt.Errorf("%s is not a regular file", u.Path)
		}
		return f, fi.Size(), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the caller names the URL already
		}
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("server answered %s", resp.Status)
	}
	return resp.Body, resp.ContentLength, nil
}

// errMismatch explains a download larger than its metadata says it is.
var errMismatch = errors.New("size and checksum do not match the repository metadata; the repository is corrupt or changing, try again")

// fetch copies rawURL into w, failing once more than limit bytes arrive
// (limit < 0: no limit). onBytes, when set, sees the running count and the
// size announced by the server (-1 when none).
func (c *Cache) fetch(ctx context.Context, rawURL string, w io.Writer, limit int64, onBytes func(done, total int64)) (int64, error) {
	n, err := c.fetchRaw(ctx, rawURL, w, limit, onBytes)
	if err != nil {
		return n, fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	return n, nil
}

func (c *Cache) fetchRaw(ctx context.Context, rawURL string, w io.Writer, limit int64, onBytes func(done, total int64)) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	body, size, err := c.open(ctx, rawURL)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	if limit >= 0 && size > limit {
		return 0, fmt.Errorf("server announces %d bytes, more than the %d expected: %w", size, limit, errMismatch)
	}
	watchdog := time.AfterFunc(stallTimeout, func() { cancel(errStalled) })
	defer watchdog.Stop()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, rerr := body.Read(buf)
		if k > 0 {
			watchdog.Reset(stallTimeout)
			if limit >= 0 && n+int64(k) > limit {
				return n, fmt.Errorf("more than the %d bytes expected: %w", limit, errMismatch)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			if onBytes != nil {
				onBytes(n, size)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			if cause := context.Cause(ctx); cause != nil {
				return n, cause
			}
			return n, rerr
		}
		// A file:// read does not watch the context by itself.
		if err := context.Cause(ctx); err != nil {
			return n, err
		}
	}
}

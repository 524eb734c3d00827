package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// countingProxy is a reverse proxy in front of the registry that counts the
// response body bytes it passes on: what a client read from the registry.
// Only bodies are counted (headers are the protocol's, not the image's).
type countingProxy struct {
	Addr string // HOST:PORT clients use instead of the registry's
	srv  *http.Server
	ln   net.Listener

	mu       sync.Mutex
	bytes    int64
	requests []proxyRequest
}

type proxyRequest struct {
	method, path string
	status       int
	bytes        int64
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse("http://" + target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("starting the counting proxy: %w", err)
	}
	p := &countingProxy{Addr: ln.Addr().String(), ln: ln}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		rec := &proxyRequest{method: resp.Request.Method, path: resp.Request.URL.Path, status: resp.StatusCode}
		resp.Body = &countingBody{ReadCloser: resp.Body, p: p, rec: rec}
		return nil
	}
	p.srv = &http.Server{Handler: rp}
	go p.srv.Serve(ln)
	return p, nil
}

type countingBody struct {
	io.ReadCloser
	p    *countingProxy
	rec  *proxyRequest
	done bool
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.ReadCloser.Read(buf)
	b.rec.bytes += int64(n)
	b.p.mu.Lock()
	b.p.bytes += int64(n)
	b.p.mu.Unlock()
	return n, err
}

func (b *countingBody) Close() error {
	if !b.done {
		b.done = true
		b.p.mu.Lock()
		b.p.requests = append(b.p.requests, *b.rec)
		b.p.mu.Unlock()
	}
	return b.ReadCloser.Close()
}

// reset zeroes the counters.
func (p *countingProxy) reset() {
	p.mu.Lock()
	p.bytes, p.requests = 0, nil
	p.mu.Unlock()
}

// total is the body bytes passed on since the last reset.
func (p *countingProxy) total() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// summary lists the requests since the last reset, one line per method,
// path and status, with their count and bytes, biggest first.
func (p *countingProxy) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	type agg struct {
		key   string
		n     int
		bytes int64
	}
	m := map[string]*agg{}
	for _, r := range p.requests {
		path := r.path
		if i := strings.LastIndex(path, "/sha256:"); i >= 0 && len(path) > i+20 {
			path = path[:i+20] + "…" // digests, shortened
		}
		k := fmt.Sprintf("%s %s %d", r.method, path, r.status)
		if m[k] == nil {
			m[k] = &agg{key: k}
		}
		m[k].n++
		m[k].bytes += r.bytes
	}
	var out []*agg
	for _, a := range m {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].bytes > out[j].bytes })
	var b strings.Builder
	for _, a := range out {
		fmt.Fprintf(&b, "      %dx %s: %d bytes\n", a.n, a.key, a.bytes)
	}
	return b.String()
}

func (p *countingProxy) close() { p.srv.Close() }

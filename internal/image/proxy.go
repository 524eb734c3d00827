package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// The daemon does not link containers/image: a helper process,
// strata-image-proxy, resolves references and reads blobs for it, as
// rpm-ostree has skopeo do. This file is the daemon's side of the wire.
//
// The helper reads requests as JSON values on its stdin and answers each with
// one JSON value on its stdout. A blob request is preceded by the write end of
// a fresh pipe, passed over a unix socket (the helper's fd 3): the helper
// answers once the blob is open ("started" or an error), writes the blob as
// stored into the pipe, closes it, and answers again when done. The daemon
// verifies every blob's digest itself. Closing the helper's stdin ends it.

// ProxyRequest is one request to the image helper.
type ProxyRequest struct {
	Op     string     `json:"op"` // "open", "blob" or "copy"
	Ref    *Reference `json:"ref,omitempty"`
	Config *Config    `json:"config,omitempty"`
	Index  int        `json:"index,omitempty"` // blob: the layer
	Dir    string     `json:"dir,omitempty"`   // copy: the OCI layout to push to Ref
}

// ProxyReply is the helper's answer; Error, when set, is the whole message.
type ProxyReply struct {
	Error  string  `json:"error,omitempty"`
	Opened *Opened `json:"opened,omitempty"`
	Digest string  `json:"digest,omitempty"` // copy: the manifest digest written
}

// ProxyEnv names the environment variable that points at the image helper;
// tests set it to the one they build.
const ProxyEnv = "STRATA_IMAGE_PROXY"

// ProxyName is the image helper's file name.
const ProxyName = "strata-image-proxy"

// proxyPath finds the image helper: the configured path, $STRATA_IMAGE_PROXY,
// next to this executable, or in ../libexec (where make install puts it
// beside stratad, and the CLI lives in bin/).
func proxyPath(cfg Config) (string, error) {
	if cfg.ProxyPath != "" {
		return cfg.ProxyPath, nil
	}
	if p := os.Getenv(ProxyEnv); p != "" {
		return p, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", ProxyName, err)
	}
	dir := filepath.Dir(exe)
	tried := []string{filepath.Join(dir, ProxyName), filepath.Join(dir, "..", "libexec", ProxyName)}
	for _, p := range tried {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("the image helper %s is not installed (looked for %s and %s): "+
		"reinstall strata (make install puts it next to stratad) or set %s", ProxyName, tried[0], tried[1], ProxyEnv)
}

// proxyClient is one running helper. Requests are serialized: a blob holds
// the helper until its stream ends or is closed.
type proxyClient struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	fds     *net.UnixConn
	replies chan proxyResult
	quit    chan struct{} // closed when the helper has exited
	mu      sync.Mutex    // held from a request to its last reply
	once    sync.Once
	err     error
}

type proxyResult struct {
	reply ProxyReply
	err   error
}

func startProxy(ctx context.Context, cfg Config) (*proxyClient, error) {
	path, err := proxyPath(cfg)
	if err != nil {
		return nil, err
	}
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	ours := os.NewFile(uintptr(pair[0]), "image-proxy-fds")
	theirs := os.NewFile(uintptr(pair[1]), "image-proxy-fds")
	defer theirs.Close()
	fc, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	// Not CommandContext: the helper's life is the Image's, not the
	// caller's context; Open and OpenLayer stop it on cancellation.
	cmd := exec.Command(path)
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{theirs}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fc.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fc.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		fc.Close()
		return nil, fmt.Errorf("starting the image helper %s: %w (reinstall strata, or fix stratad --image-proxy or $%s)", path, err, ProxyEnv)
	}
	p := &proxyClient{cmd: cmd, stdin: stdin, fds: fc.(*net.UnixConn), replies: make(chan proxyResult, 1), quit: make(chan struct{})}
	go func() {
		dec := json.NewDecoder(stdout)
		for {
			var r ProxyReply
			if err := dec.Decode(&r); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("the image helper %s exited", path)
				} else {
					err = fmt.Errorf("reading from the image helper %s: %w", path, err)
				}
				select {
				case p.replies <- proxyResult{err: err}:
					close(p.replies)
				case <-p.quit:
				}
				return
			}
			select {
			case p.replies <- proxyResult{reply: r}:
			case <-p.quit:
				return
			}
		}
	}()
	return p, nil
}

func (p *proxyClient) send(req ProxyRequest) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing to the image helper: %w", err)
	}
	return nil
}

// reply waits for the next answer; on cancellation it stops the helper,
// since the request cannot be taken back.
func (p *proxyClient) reply(ctx context.Context) (ProxyReply, error) {
	select {
	case r, ok := <-p.replies:
		if !ok {
			return ProxyReply{}, errors.New("the image helper exited")
		}
		if r.err != nil {
			return ProxyReply{}, r.err
		}
		if r.reply.Error != "" {
			return r.reply, errors.New(r.reply.Error)
		}
		return r.reply, nil
	case <-ctx.Done():
		// EOF on its stdin cancels the helper's work and lets it close its
		// image source (an extracted oci-archive is removed); close waits.
		p.stdin.Close()
		return ProxyReply{}, ctx.Err()
	}
}

func (p *proxyClient) open(ctx context.Context, ref Reference, cfg Config) (*Opened, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.send(ProxyRequest{Op: "open", Ref: &ref, Config: &cfg}); err != nil {
		return nil, err
	}
	r, err := p.reply(ctx)
	if err != nil {
		return nil, err
	}
	if r.Opened == nil {
		return nil, errors.New("the image helper answered open without an image")
	}
	return r.Opened, nil
}

// blob streams layer i as stored. The helper's final answer is read at the
// stream's end (an error there replaces EOF) or when it is closed.
func (p *proxyClient) blob(ctx context.Context, i int) (io.ReadCloser, error) {
	p.mu.Lock()
	pr, pw, err := os.Pipe()
	if err != nil {
		p.mu.Unlock()
		return nil, err
	}
	_, _, err = p.fds.WriteMsgUnix([]byte{0}, syscall.UnixRights(int(pw.Fd())), nil)
	pw.Close()
	if err == nil {
		err = p.send(ProxyRequest{Op: "blob", Index: i})
	}
	if err != nil {
		pr.Close()
		p.mu.Unlock()
		return nil, fmt.Errorf("asking the image helper for a blob: %w", err)
	}
	if _, err := p.reply(ctx); err != nil {
		pr.Close()
		p.mu.Unlock()
		return nil, err
	}
	return &proxyBlob{p: p, ctx: ctx, r: pr}, nil
}

type proxyBlob struct {
	p    *proxyClient
	ctx  context.Context
	r    *os.File
	done bool
	err  error
}

func (b *proxyBlob) finish() error {
	if !b.done {
		b.done = true
		_, b.err = b.p.reply(b.ctx)
		b.p.mu.Unlock()
	}
	return b.err
}

func (b *proxyBlob) Read(p []byte) (int, error) {
	if b.done {
		if b.err != nil {
			return 0, b.err
		}
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		if ferr := b.finish(); ferr != nil {
			return n, ferr
		}
	}
	return n, err
}

func (b *proxyBlob) Close() error {
	cerr := b.r.Close()
	if !b.done {
		// The helper sees a broken pipe and answers; its error is of no
		// interest to a reader that gave up.
		b.finish()
		return cerr
	}
	return cerr
}

// kill stops a helper that does not end by itself.
func (p *proxyClient) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
}

// close ends the helper: EOF on its stdin lets it close its image source
// (removing an extracted oci-archive); one that does not end is killed.
func (p *proxyClient) close() error {
	p.once.Do(func() {
		p.stdin.Close()
		p.fds.Close()
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			p.err = err
		case <-time.After(30 * time.Second):
			p.kill()
			p.err = <-done
		}
		close(p.quit)
		var exit *exec.ExitError
		if errors.As(p.err, &exit) {
			// The helper reported its failure already (to the request, and on
			// stderr); ending is no failure of Close.
			p.err = nil
		}
	})
	return p.err
}

// proxyCopyLayout has the helper push the OCI layout in dir (tagged
// "encapsulated") to dest.
func proxyCopyLayout(ctx context.Context, dir string, dest Reference, cfg Config) (string, error) {
	p, err := startProxy(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer p.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.send(ProxyRequest{Op: "copy", Ref: &dest, Config: &cfg, Dir: dir}); err != nil {
		return "", err
	}
	r, err := p.reply(ctx)
	if err != nil {
		return "", err
	}
	return r.Digest, nil
}

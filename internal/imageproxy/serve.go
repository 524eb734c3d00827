package imageproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"

	"github.com/strata-os/strata/internal/image"
)

// Serve answers the daemon's requests (see internal/image/proxy.go for the
// wire) until in ends; fds carries the pipes blobs are written to. The
// context given to containers/image ends with in, so a daemon that goes away
// (or closes the image) stops a download in progress.
func Serve(ctx context.Context, in io.Reader, out io.Writer, fds *net.UnixConn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reqs := make(chan image.ProxyRequest)
	readErr := make(chan error, 1)
	go func() {
		defer close(reqs)
		dec := json.NewDecoder(in)
		for {
			var r image.ProxyRequest
			if err := dec.Decode(&r); err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- fmt.Errorf("reading a request: %w", err)
				}
				cancel()
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	enc := json.NewEncoder(out)
	var src *Source
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	reply := func(r image.ProxyReply, err error) error {
		if err != nil {
			r = image.ProxyReply{Error: err.Error()}
		}
		if werr := enc.Encode(r); werr != nil {
			return fmt.Errorf("answering: %w", werr)
		}
		return nil
	}
	for req := range reqs {
		var err error
		switch req.Op {
		case "open":
			if src != nil || req.Ref == nil || req.Config == nil {
				err = reply(image.ProxyReply{}, errors.New("image helper: open needs a reference and a configuration, once"))
				break
			}
			src, err = Open(ctx, *req.Ref, *req.Config)
			if err != nil {
				src = nil
				err = reply(image.ProxyReply{}, err)
				break
			}
			err = reply(image.ProxyReply{Opened: &src.Opened}, nil)
		case "blob":
			err = serveBlob(ctx, src, req.Index, fds, reply)
		case "copy":
			if req.Ref == nil || req.Config == nil {
				err = reply(image.ProxyReply{}, errors.New("image helper: copy needs a destination and a configuration"))
				break
			}
			d, cerr := CopyLayout(ctx, req.Dir, *req.Ref, *req.Config)
			err = reply(image.ProxyReply{Digest: d}, cerr)
		default:
			err = reply(image.ProxyReply{}, fmt.Errorf("image helper: unknown request %q", req.Op))
		}
		if err != nil {
			return err
		}
	}
	select {
	case err := <-readErr:
		return err
	default:
		return nil
	}
}

// serveBlob takes the pipe the daemon passed, answers once the blob is open,
// writes it as stored and answers again.
func serveBlob(ctx context.Context, src *Source, i int, fds *net.UnixConn, reply func(image.ProxyReply, error) error) error {
	w, err := receivePipe(fds)
	if err != nil {
		return err
	}
	defer w.Close()
	if src == nil || i < 0 || i >= len(src.Layers) {
		return reply(image.ProxyReply{}, fmt.Errorf("image helper: no layer %d", i))
	}
	l := src.Layers[i]
	blob, _, err := src.src.GetBlob(ctx, types.BlobInfo{Digest: digest.Digest(l.Digest), Size: l.Size, MediaType: l.MediaType}, none.NoCache)
	if err != nil {
		return reply(image.ProxyReply{}, err)
	}
	defer blob.Close()
	if err := reply(image.ProxyReply{}, nil); err != nil {
		return err
	}
	_, err = io.Copy(w, blob)
	// Closing the pipe before answering: the daemon reads the answer at EOF.
	w.Close()
	if errors.Is(err, syscall.EPIPE) {
		err = errors.New("the reader closed the stream")
	}
	return reply(image.ProxyReply{}, err)
}

func receivePipe(fds *net.UnixConn) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, err := fds.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receiving a blob pipe: %w", err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receiving a blob pipe: no descriptor passed (%v)", err)
	}
	got, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != 1 {
		return nil, fmt.Errorf("receiving a blob pipe: no descriptor passed (%v)", err)
	}
	return os.NewFile(uintptr(got[0]), "blob-pipe"), nil
}

package rpmmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// maxGPGKeySize bounds a downloaded gpgkey= file: armored public keys are a
// few KiB, so anything this large is not one.
const maxGPGKeySize = 1 << 20

// FetchGPGKey copies the key a repo's gpgkey= names (file://, http:// or
// https://) to dest. A file:// key is read from the daemon's own filesystem,
// as dnf reads it on the host it runs on.
func (c *Cache) FetchGPGKey(ctx context.Context, rawURL, dest string) error {
	var buf bytes.Buffer
	if _, err := c.fetchRaw(ctx, rawURL, &buf, maxGPGKeySize, nil); err != nil {
		return fmt.Errorf("fetching GPG key %s: %w", rawURL, err)
	}
	if err := os.WriteFile(dest, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("storing GPG key %s: %w", rawURL, err)
	}
	return nil
}

// LocalPkgGPGCheck reads localpkg_gpgcheck from the [main] section of a
// dnf.conf (dnf's switch for verifying local packages). A missing file or
// key means false, dnf's default.
func LocalPkgGPGCheck(path string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	sections, err := parseINI(path, data)
	if err != nil {
		return false, err
	}
	for _, s := range sections {
		if s.name != "main" {
			continue
		}
		v, ok := s.keys["localpkg_gpgcheck"]
		if !ok {
			return false, nil
		}
		on, err := parseBool(v.text)
		if err != nil {
			return false, fmt.Errorf("%s:%d: localpkg_gpgcheck: %w", path, v.line, err)
		}
		return on, nil
	}
	return false, nil
}

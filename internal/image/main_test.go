package image_test

import (
	"os"
	"testing"

	"github.com/strata-os/strata/tests/fixture"
)

// TestMain gives the tests that open images a real image helper.
func TestMain(m *testing.M) { os.Exit(fixture.RunWithImageProxy(m)) }

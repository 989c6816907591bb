package main

import (
	"bytes"
	"crypto/sha256"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// TestReadCPU reads the real /proc while this process burns CPU: the tool's share and the
// machine's must grow by at least what was burned, and a child process given as "Herald" must
// be found by its PID.
func TestReadCPU(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	before, err := readCPU(fs, child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sum := sha256.Sum256(nil)
	for time.Since(start) < 300*time.Millisecond {
		sum = sha256.Sum256(sum[:])
	}
	after, err := readCPU(fs, child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in ticks of 10 ms; the loop ran ~300 ms on one core.
	if used := after.Tool - before.Tool; used < 200*time.Millisecond {
		t.Errorf("the tool used %s while burning 300 ms", used)
	}
	if used := after.Machine - before.Machine; used < 200*time.Millisecond {
		t.Errorf("the machine used %s while the tool burned 300 ms", used)
	}
	if used := after.Herald - before.Herald; used > 50*time.Millisecond {
		t.Errorf("the sleeping child used %s", used)
	}
}

func TestPerDelivery(t *testing.T) {
	t.Parallel()
	before := cpuReading{Herald: time.Second, Postgres: 2 * time.Second, Tool: 0, Machine: 10 * time.Second}
	after := cpuReading{Herald: 3 * time.Second, Postgres: 5 * time.Second, Tool: time.Second, Machine: 16 * time.Second}
	c := perDelivery(before, after, 10_000, 40)
	want := cpuCost{HeraldUs: 200, PostgresUs: 300, ToolUs: 100, MachineUs: 600, CeilingMachineUs: 40}
	if *c != want {
		t.Errorf("perDelivery = %+v, want %+v", *c, want)
	}
	var b bytes.Buffer
	c.print(&b)
	if got := b.String(); got != "  cpu per delivery   herald 200 µs, postgres 300 µs, tool 100 µs; machine 600 µs (a ceiling request: 40 µs)\n" {
		t.Errorf("print = %q", got)
	}
	b.Reset()
	(&cpuCost{ToolUs: 50, MachineUs: 90, CeilingMachineUs: 40}).print(&b)
	if got := b.String(); got != "  cpu per delivery   tool 50 µs; machine 90 µs (a ceiling request: 40 µs)\n" {
		t.Errorf("print without Herald and PostgreSQL = %q", got)
	}
	if perDelivery(before, after, 0, 40) != nil {
		t.Error("perDelivery of no deliveries is not nil")
	}
}

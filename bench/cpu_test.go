package main

import (
	"bytes"
	"crypto/sha256"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// TestReadCPU reads the real /proc while this process burns CPU: the tool's share must grow by
// what the kernel's own accounting (getrusage) says was used, the machine's by at least as
// much, and a child process given as "Herald" must be found by its PID and show no use.
func TestReadCPU(t *testing.T) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	before, err := readCPU(fs, child.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := selfCPU(t)
	sum := sha256.Sum256(nil)
	for deadline := time.Now().Add(30 * time.Second); selfCPU(t)-start < 300*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatal("could not use 300 ms of CPU in 30 s")
		}
		for range 10_000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	used := selfCPU(t) - start
	after, err := readCPU(fs, child.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in ticks of 10 ms.
	const tick = 10 * time.Millisecond
	if got := after.Tool - before.Tool; got < used-2*tick {
		t.Errorf("the tool's share grew %s while getrusage counted %s", got, used)
	}
	if got := after.Machine - before.Machine; got < used-2*tick {
		t.Errorf("the machine's busy time grew %s while the tool alone used %s", got, used)
	}
	if got := after.Herald - before.Herald; got > 2*tick {
		t.Errorf("the sleeping child used %s", got)
	}
	if none, err := readCPU(fs, child.Process.Pid, -1); err != nil || none.Postgres != 0 {
		t.Errorf("with no PostgreSQL to count: %s, %v", none.Postgres, err)
	}
}

// selfCPU is this process's CPU time (user + system) as getrusage counts it.
func selfCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

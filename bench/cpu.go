package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// cpuReading is the CPU time (user + system) used so far by each party to a run, read from
// /proc: Herald (when spawned), PostgreSQL (see readCPU), this tool, and the
// whole machine (all cores, busy time only).
type cpuReading struct {
	Herald, Postgres, Tool, Machine time.Duration
}

// readCPU takes a cpuReading; heraldPID 0 leaves Herald out. postmasterPID 0 counts every
// process named postgres, a negative one none (Herald on SQLite); otherwise only that
// postmaster and its children (a -cluster run's own server, whatever else runs on the host). PostgreSQL backends that exit
// between two readings take their time with them, so readings bracket a stretch in which
// Herald keeps its connections.
func readCPU(fs procfs.FS, heraldPID, postmasterPID int) (cpuReading, error) {
	var r cpuReading
	st, err := fs.Stat()
	if err != nil {
		return r, fmt.Errorf("read cpu: %w", err)
	}
	c := st.CPUTotal
	r.Machine = seconds(c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal)
	procs, err := fs.AllProcs()
	if err != nil {
		return r, fmt.Errorf("read cpu: %w", err)
	}
	self, err := fs.Self()
	if err != nil {
		return r, fmt.Errorf("read cpu: %w", err)
	}
	for _, p := range procs {
		ps, err := p.Stat()
		if err != nil {
			continue // exited since AllProcs
		}
		used := seconds(ps.CPUTime())
		switch {
		case p.PID == self.PID:
			r.Tool = used
		case p.PID == heraldPID:
			r.Herald = used
		case postmasterPID == 0 && ps.Comm == "postgres",
			postmasterPID > 0 && (p.PID == postmasterPID || ps.PPID == postmasterPID):
			r.Postgres += used
		}
	}
	return r, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// cpuCost is the CPU time per delivery each party spent between two readings, in
// microseconds, and the machine's per request of the loopback ceiling.
type cpuCost struct {
	HeraldUs   float64 `json:"heraldUs,omitempty"`
	PostgresUs float64 `json:"postgresUs,omitempty"`
	ToolUs     float64 `json:"toolUs"`
	MachineUs  float64 `json:"machineUs"`
	// CeilingMachineUs is the machine's CPU per request while the ceiling was measured.
	CeilingMachineUs float64 `json:"ceilingMachineUs"`
}

// perDelivery divides what each party used from before to after by n deliveries; ceiling is
// the machine's CPU per ceiling request.
func perDelivery(before, after cpuReading, n int, ceiling float64) *cpuCost {
	if n == 0 {
		return nil
	}
	us := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/float64(n)*10) / 10 }
	return &cpuCost{
		HeraldUs:         us(after.Herald - before.Herald),
		PostgresUs:       us(after.Postgres - before.Postgres),
		ToolUs:           us(after.Tool - before.Tool),
		MachineUs:        us(after.Machine - before.Machine),
		CeilingMachineUs: ceiling,
	}
}

// print writes one line; parties that used nothing (Herald not spawned, no PostgreSQL) are
// left out.
func (c *cpuCost) print(w io.Writer) {
	var parts []string
	for _, p := range []struct {
		name string
		us   float64
	}{{"herald", c.HeraldUs}, {"postgres", c.PostgresUs}, {"tool", c.ToolUs}} {
		if p.us > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f µs", p.name, p.us))
		}
	}
	fmt.Fprintf(w, "  cpu per delivery   %s; machine %.0f µs (a ceiling request: %.0f µs)\n",
		strings.Join(parts, ", "), c.MachineUs, c.CeilingMachineUs)
}

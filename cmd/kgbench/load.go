package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one run of the load generator.
type loadResult struct {
	Requests  int64   // completed during the measured window
	Errors    int64   // transport errors
	BadBodies int64   // answers that did not contain the expected marker
	Matched   int64   // answers that contained it
	Seconds   float64 // measured window
	RPS       float64
	P50, P99  time.Duration
	Exhausted bool          // the pre-signed requests ran out before the window ended
	CPUPerReq time.Duration // server CPU (utime+stime) per request in the window
	ServerCPU float64       // server CPU, % of one core
}

// reqSource hands out raw HTTP/1.1 requests: either one request repeated
// (Repeat) or a pre-built list consumed once each (Distinct).
type reqSource struct {
	repeat   []byte
	distinct [][]byte
	next     atomic.Int64
}

func (s *reqSource) get() ([]byte, bool) {
	if s.repeat != nil {
		return s.repeat, true
	}
	i := s.next.Add(1) - 1
	if i >= int64(len(s.distinct)) {
		return nil, false
	}
	return s.distinct[i], true
}

// runLoad drives addr with conns keep-alive connections for warm+dur and
// measures only dur. Each connection sends one request at a time (closed
// loop, like wrk). want, if not nil, must appear in every answer body.
func runLoad(addr string, serverPID int, src *reqSource, conns int, warm, dur time.Duration, want []byte, strict bool) (loadResult, error) {
	var (
		wg        sync.WaitGroup
		measuring atomic.Bool
		stop      atomic.Bool
		total     atomic.Int64
		errs      atomic.Int64
		bad       atomic.Int64
		matched   atomic.Int64
		exhausted atomic.Bool
		mu        sync.Mutex
		lats      []int64
		firstErr  error
		errOnce   sync.Once
	)
	for range conns {
		wg.Go(func() {
			local := make([]int64, 0, 1<<14)
			defer func() {
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			}()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs.Add(1)
				errOnce.Do(func() { firstErr = err })
				return
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 16<<10)
			var body []byte
			for !stop.Load() {
				req, ok := src.get()
				if !ok {
					exhausted.Store(true)
					return
				}
				t0 := time.Now()
				if _, err := c.Write(req); err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				body, err = readResponse(br, body[:0])
				if err != nil {
					errs.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				d := time.Since(t0)
				if measuring.Load() && !stop.Load() {
					total.Add(1)
					local = append(local, int64(d))
					switch {
					case want == nil:
					case bytes.Contains(body, want):
						matched.Add(1)
					default:
						if bad.Add(1) == 1 && strict {
							errOnce.Do(func() { firstErr = fmt.Errorf("unexpected answer: %.300s", body) })
						}
					}
				}
			}
		})
	}
	time.Sleep(warm)
	measuring.Store(true)
	start := time.Now()
	cpu0 := cpuTicks(serverPID)
	deadline := start.Add(dur)
	for time.Now().Before(deadline) && !exhausted.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	stop.Store(true)
	el := time.Since(start)
	cpu := cpuTicks(serverPID) - cpu0
	wg.Wait()
	r := loadResult{Requests: total.Load(), Errors: errs.Load(), BadBodies: bad.Load(), Matched: matched.Load(), Seconds: el.Seconds(), Exhausted: exhausted.Load()}
	r.RPS = float64(r.Requests) / r.Seconds
	r.ServerCPU = 100 * float64(cpu) / userHZ / r.Seconds
	if r.Requests > 0 {
		r.CPUPerReq = time.Duration(float64(cpu) / userHZ * 1e9 / float64(r.Requests))
	}
	slices.Sort(lats)
	r.P50, r.P99 = pct(lats, 50), pct(lats, 99)
	if r.Errors > 0 || (strict && r.BadBodies > 0) {
		return r, fmt.Errorf("load: %d transport errors, %d unexpected answers; first: %v", r.Errors, r.BadBodies, firstErr)
	}
	return r, nil
}

func pct(sorted []int64, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return time.Duration(sorted[i])
}

// readResponse reads one HTTP/1.1 response (Content-Length or chunked) and
// returns its body appended to buf.
func readResponse(br *bufio.Reader, buf []byte) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return buf, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return buf, fmt.Errorf("bad status line %q", line)
	}
	clen, chunked := -1, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return buf, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "content-length"):
			clen, err = strconv.Atoi(string(v))
			if err != nil {
				return buf, err
			}
		case asciiEqualFold(k, "transfer-encoding"):
			chunked = asciiEqualFold(v, "chunked")
		}
	}
	if chunked {
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return buf, err
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
			if err != nil {
				return buf, err
			}
			if n == 0 {
				_, err = br.ReadSlice('\n')
				return buf, err
			}
			start := len(buf)
			buf = slices.Grow(buf, int(n))[:start+int(n)]
			if _, err := io.ReadFull(br, buf[start:]); err != nil {
				return buf, err
			}
			if _, err := br.Discard(2); err != nil {
				return buf, err
			}
		}
	}
	if clen < 0 {
		return buf, errors.New("response without Content-Length")
	}
	start := len(buf)
	buf = slices.Grow(buf, clen)[:start+clen]
	_, err = io.ReadFull(br, buf[start:])
	return buf, err
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// floorServer is the floor of scenario 1: a bare net/http handler answering
// 100 bytes, in its own process (GOMAXPROCS unset), printing its address.
func floorServer() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	body := bytes.Repeat([]byte("x"), 100)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write(body)
	})
	fmt.Println(ln.Addr().String())
	os.Stdout.Sync()
	return http.Serve(ln, h)
}

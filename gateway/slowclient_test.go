package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"killgate/actions"
	"killgate/gateway"
)

// slowServer serves the Echo gateway through gateway.NewHTTPServer with
// short timeouts (the production defaults are 5s/30s/60s/120s).
func slowServer(t *testing.T, to gateway.HTTPTimeouts) string {
	t.Helper()
	reg := actions.NewRegistry([]actions.Action{
		actions.Bind("Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Echo: *r}, nil }),
	})
	gw, err := gateway.New(gateway.Config{Credentials: []gateway.Credential{{SecretID: testID, SecretKey: testKey}}, Registry: reg, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gateway.NewHTTPServer(ln.Addr().String(), gw.Handler(), to)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// TestSlowClients: slowloris-style clients — many connections trickling
// their headers a byte at a time, or their body — cannot pin the server:
// normal requests keep being answered while they trickle, and the server
// closes each slow connection once ReadHeaderTimeout (headers) or
// ReadTimeout (body) has passed.
func TestSlowClients(t *testing.T) {
	const (
		readHeader = 600 * time.Millisecond
		read       = 1500 * time.Millisecond
		slowConns  = 64
	)
	addr := slowServer(t, gateway.HTTPTimeouts{ReadHeader: readHeader, Read: read, Write: 2 * time.Second, Idle: 2 * time.Second})
	srvURL := "http://" + addr

	type result struct {
		closedAfter time.Duration
		err         error
	}
	trickle := func(prefix, drip string, every time.Duration) result {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return result{err: err}
		}
		defer c.Close()
		start := time.Now()
		if _, err := io.WriteString(c, prefix); err != nil {
			return result{err: err}
		}
		// Keep dripping until the server hangs up (a write fails or a read
		// sees EOF/reset), or give up after 10s (the server never closed).
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			_, _ = io.Copy(io.Discard, c) // returns when the server closes
		}()
		for i := 0; ; i++ {
			select {
			case <-readDone:
				return result{closedAfter: time.Since(start)}
			case <-time.After(every):
			}
			if time.Since(start) > 10*time.Second {
				return result{err: errors.New("server kept the slow connection open for 10s")}
			}
			if _, err := io.WriteString(c, string(drip[i%len(drip)])); err != nil {
				<-readDone
				return result{closedAfter: time.Since(start)}
			}
		}
	}

	var wg sync.WaitGroup
	results := make([]result, slowConns)
	for i := range slowConns {
		wg.Go(func() {
			if i%4 == 3 {
				// Headers complete, body trickled: ReadTimeout applies.
				results[i] = trickle("POST / HTTP/1.1\r\nHost: "+addr+"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", "x", 50*time.Millisecond)
			} else {
				results[i] = trickle("G", "ET / HTTP/1.1\r\nHost: x\r\nX-A: "+strings.Repeat("a", 200), 50*time.Millisecond)
			}
		})
	}
	// While they trickle, normal requests are served promptly.
	time.Sleep(100 * time.Millisecond)
	client := &http.Client{Timeout: 2 * time.Second}
	served := 0
	for deadline := time.Now().Add(readHeader + 500*time.Millisecond); time.Now().Before(deadline); {
		req := tc3RequestTo(t, srvURL, "Echo", `{"Name":"x"}`)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("a normal request failed while %d slow clients trickle: %v", slowConns, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		served++
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	var worstHeader, worstBody time.Duration
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("slow connection %d: %v", i, r.err)
		}
		limit, worst := readHeader, &worstHeader
		if i%4 == 3 {
			limit, worst = read, &worstBody
		}
		if r.closedAfter < limit-50*time.Millisecond {
			t.Errorf("slow connection %d closed after %s, before its timeout %s", i, r.closedAfter, limit)
		}
		if r.closedAfter > limit+2*time.Second {
			t.Errorf("slow connection %d closed only after %s (timeout %s)", i, r.closedAfter, limit)
		}
		*worst = max(*worst, r.closedAfter)
	}
	t.Logf("figure: %d slow connections; %d normal requests served meanwhile; header tricklers closed by %s (ReadHeaderTimeout %s), body tricklers by %s (ReadTimeout %s)",
		slowConns, served, worstHeader.Round(time.Millisecond), readHeader, worstBody.Round(time.Millisecond), read)
}

// TestDefaultHTTPTimeouts: production servers get finite timeouts.
func TestDefaultHTTPTimeouts(t *testing.T) {
	s := gateway.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler())
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 30*time.Second || s.WriteTimeout != 60*time.Second || s.IdleTimeout != 120*time.Second || s.MaxHeaderBytes != 64<<10 {
		t.Fatalf("timeouts %s %s %s %s max header %d", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout, s.MaxHeaderBytes)
	}
	s = gateway.NewHTTPServer("127.0.0.1:0", http.NotFoundHandler(), gateway.HTTPTimeouts{ReadHeader: time.Second})
	if s.ReadHeaderTimeout != time.Second || s.ReadTimeout != 30*time.Second {
		t.Fatalf("override: %s %s", s.ReadHeaderTimeout, s.ReadTimeout)
	}
}

// tc3RequestTo is tc3Request for a server given by its base URL.
func tc3RequestTo(t *testing.T, base, action, body string) *http.Request {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	ts := time.Now().Unix()
	req, err := http.NewRequest("POST", base+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", gateway.Version)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Authorization", signTC3(testID, testKey, "dbbrain", host, "application/json", ts, "POST", "", []byte(body)))
	return req
}

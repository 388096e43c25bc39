package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// TestInfluxFromTheClientLibrary writes with InfluxDB's Go client (the
// blocking write API of influxdb-client-go, which speaks /api/v2/write) and
// reads the samples back through the query API.
func TestInfluxFromTheClientLibrary(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	client := influxdb2.NewClient(srv.URL, "not-checked-without-auth")
	defer client.Close()
	ctx := context.Background()
	if ok, err := client.Ping(ctx); !ok || err != nil {
		t.Fatalf("Ping: %v %v; want true", ok, err)
	}
	at := time.Now().Truncate(time.Millisecond)
	w := client.WriteAPIBlocking("my-org", "telegraf")
	p := influxdb2.NewPoint("cpu",
		map[string]string{"host": "web 1", "region": "eu,west"},
		map[string]any{"usage_idle": 97.25, "cores": 8, "throttled": false, "governor": "performance"},
		at)
	if err := w.WritePoint(ctx, p); err != nil {
		t.Fatalf("WritePoint: %v", err)
	}
	// Raw line protocol through the same client, nanosecond timestamps.
	line := "disk,host=db1,path=/var used_bytes=1.5e9,inodes=12u " + nanos(at)
	if err := w.WriteRecord(ctx, line); err != nil {
		t.Fatalf("WriteRecord: %v", err)
	}
	check := func(query string, want ...string) {
		t.Helper()
		got := instant(t, srv, st, query, at)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", query, got, want)
		}
	}
	check(`{__name__=~"cpu_.*"}`,
		"__name__=cpu_cores,db=telegraf,host=web 1,region=eu,west 8",
		"__name__=cpu_throttled,db=telegraf,host=web 1,region=eu,west 0",
		"__name__=cpu_usage_idle,db=telegraf,host=web 1,region=eu,west 97.25")
	check(`{__name__=~"disk_.*"}`,
		"__name__=disk_inodes,db=telegraf,host=db1,path=/var 12",
		"__name__=disk_used_bytes,db=telegraf,host=db1,path=/var 1500000000")
	check("timestamp(cpu_cores)", "db=telegraf,host=web 1,region=eu,west "+formatUnix(at))

	// A bad line: the client reports Vigil's message, line and text.
	err := w.WriteRecord(ctx, "ok v=1\nbad,host=x v=oops")
	if err == nil || !strings.Contains(err.Error(), `line 2: field "v": "oops" is neither a number`) || !strings.Contains(err.Error(), `bad,host=x v=oops`) {
		t.Fatalf("bad line: %v; want Vigil's error naming line 2", err)
	}
	if got := instant(t, srv, st, "ok_v", at); len(got) != 0 {
		t.Fatalf("a refused request stored %q", got)
	}
}

func nanos(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

// TestInfluxV1 writes raw line protocol to the 1.x endpoint, as Telegraf's
// influxdb output does.
func TestInfluxV1(t *testing.T) {
	srv, st := ingestServer(t, Options{})
	at := time.Unix(1_700_000_000, 0)
	body := "# from telegraf\nmem,host=a used=10i,free=5i 1700000000\nmem,host=b,db=other used=1 1700000000\n"
	code, resp := send(t, http.MethodPost, srv.URL+"/influx/write?db=metrics&precision=s", "text/plain", []byte(body))
	if code != http.StatusNoContent {
		t.Fatalf("%d %s; want 204", code, resp)
	}
	want := []string{"__name__=mem_free,db=metrics,host=a 5", "__name__=mem_used,db=metrics,host=a 10", "__name__=mem_used,db=other,host=b 1"}
	if got := instant(t, srv, st, `{__name__=~"mem_.*"}`, at); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// 1.x errors are {"error": ...}; a bad precision is named.
	code, resp = send(t, http.MethodPost, srv.URL+"/write?precision=weeks", "", []byte("m v=1\n"))
	if code != 400 || !strings.HasPrefix(resp, `{"error":"precision=\"weeks\" is not a precision`) {
		t.Fatalf("bad precision: %d %s", code, resp)
	}
	code, resp = send(t, http.MethodPost, srv.URL+"/api/v2/write?bucket=b", "", []byte("m v=1\nm v=\n"))
	if code != 400 || !strings.HasPrefix(resp, `{"code":"invalid","message":"line 2: `) {
		t.Fatalf("bad line on 2.x: %d %s", code, resp)
	}
	for _, path := range []string{"/ping", "/influx/ping"} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if code, _ := send(t, method, srv.URL+path, "", nil); code != http.StatusNoContent {
				t.Errorf("%s %s: %d; want 204", method, path, code)
			}
		}
	}
}

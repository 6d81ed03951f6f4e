// Command shopweb is the test chart's container on the stack's real node: it serves
// GET /ready on :8080 and prints "tick N" every second. Its environment makes it misbehave
// for real: CRASH_AFTER=S exits 1 after S seconds; NEVER_READY=1 answers /ready with 503.
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	neverReady := os.Getenv("NEVER_READY") == "1"
	http.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if neverReady {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	go func() {
		if err := http.ListenAndServe(":8080", nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}()
	crashAfter, _ := strconv.Atoi(os.Getenv("CRASH_AFTER"))
	for n := 1; ; n++ {
		time.Sleep(time.Second)
		fmt.Printf("tick %d\n", n)
		if crashAfter > 0 && n >= crashAfter {
			fmt.Println("crashing on purpose")
			os.Exit(1)
		}
	}
}

// Go's net/http, the standard library only: GOMAXPROCS from --threads.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"runtime"
)

func main() {
	port := flag.Int("port", 0, "port to listen on")
	threads := flag.Int("threads", 1, "GOMAXPROCS")
	flag.Parse()
	runtime.GOMAXPROCS(*threads)
	body := []byte("Hello, world!")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Server"] = []string{"go"}
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		w.Write(body)
	})
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		panic(err)
	}
	panic(http.Serve(ln, nil))
}

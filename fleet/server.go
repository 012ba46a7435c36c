package fleet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrOpenListen is wrapped by the error about an embedded server asked to
// listen beyond loopback without authentication.
var ErrOpenListen = errors.New("fleet: refusing to listen beyond loopback without authentication")

// ServerConfig configures an embedded NATS server.
type ServerConfig struct {
	// Listen is the client address, host:port; empty means
	// 127.0.0.1:4222, and port -1 picks a free one. A host other than a
	// loopback one needs authentication (Token, or users in ConfigFile).
	Listen string
	// StoreDir holds JetStream's data (the overrides and the audit).
	// Required.
	StoreDir string
	// ConfigFile is a NATS server configuration file (accounts, users and
	// their permissions, TLS) read first; Listen and StoreDir win over it.
	// Empty means none.
	ConfigFile string
	// Token, when set, is the token every client must present.
	Token string
	// Name is the server's name; empty means "fusebox-hub".
	Name string
}

// Server is an embedded NATS server with JetStream.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server with JetStream and waits until
// it accepts connections.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("fleet: ServerConfig.StoreDir is empty")
	}
	opts := &server.Options{}
	if cfg.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(cfg.ConfigFile); err != nil {
			return nil, fmt.Errorf("fleet: NATS configuration %s: %w", cfg.ConfigFile, err)
		}
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:4222"
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("fleet: NATS listen address %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < -1 || port > 65535 {
		return nil, fmt.Errorf("fleet: NATS listen address %q: bad port %q", listen, portText)
	}
	opts.Host, opts.Port = host, port
	if cfg.Token != "" {
		opts.Authorization = cfg.Token
	}
	if !loopback(host) && opts.Authorization == "" && len(opts.Users) == 0 && len(opts.Nkeys) == 0 && opts.TrustedOperators == nil {
		return nil, fmt.Errorf("%w: %s (set a token, or users in a NATS configuration file)", ErrOpenListen, listen)
	}
	opts.JetStream = true
	opts.StoreDir = cfg.StoreDir
	opts.NoSigs = true
	opts.NoLog = true
	if opts.ServerName == "" {
		opts.ServerName = cfg.Name
	}
	if opts.ServerName == "" {
		opts.ServerName = "fusebox-hub"
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("fleet: NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("fleet: NATS server on %s did not start within 10 s", listen)
	}
	return &Server{ns: ns}, nil
}

// loopback reports whether host names only this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientURL returns the URL clients connect to.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ns.Addr() }

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

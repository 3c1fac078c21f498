package roomapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/liveloop/liveloop/interact"
)

// ErrBadToken reports a session token that is missing, malformed, expired
// or not signed by this server.
var ErrBadToken = errors.New("roomapi: bad session token")

// claims are a session token's: sub is the viewer id.
type claims struct {
	Name string        `json:"name"`
	Role interact.Role `json:"role"`
	jwt.RegisteredClaims
}

// sessions issues and checks session tokens: JWT, HS256, signed with a
// secret kept in the data directory (made on first start, 0600).
type sessions struct {
	secret   []byte
	ttl      time.Duration
	staffTTL time.Duration
	now      func() time.Time
}

const secretFile = "session.key"

func loadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("roomapi: session secret: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("roomapi: session secret: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("roomapi: session secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("roomapi: session secret: %w", err)
	}
	return b, nil
}

// Session is an issued token and who it names.
type Session struct {
	Token     string        `json:"token"`
	Viewer    string        `json:"viewer"`
	Name      string        `json:"name"`
	Role      interact.Role `json:"role"`
	ExpiresAt time.Time     `json:"expiresAt"`
}

func (s *sessions) issue(name string, role interact.Role) (Session, error) {
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	viewer := base64.RawURLEncoding.EncodeToString(id)
	if name == "" {
		name = "viewer-" + viewer[:4]
	}
	ttl := s.ttl
	if role.Staff() {
		ttl = s.staffTTL
	}
	now := s.now()
	exp := now.Add(ttl).Truncate(time.Second)
	c := claims{Name: name, Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Subject: viewer, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp), Issuer: "liveloop",
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.secret)
	if err != nil {
		return Session{}, err
	}
	return Session{Token: tok, Viewer: viewer, Name: name, Role: role, ExpiresAt: exp}, nil
}

func (s *sessions) verify(token string) (interact.Actor, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("liveloop"), jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired())
	if err != nil {
		return interact.Actor{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	if c.Subject == "" || !c.Role.Valid() || validName(c.Name) != nil {
		return interact.Actor{}, fmt.Errorf("%w: bad claims", ErrBadToken)
	}
	return interact.Actor{ID: c.Subject, Name: c.Name, Role: c.Role}, nil
}

// MaxNameLen bounds a display name, in characters.
const MaxNameLen = 32

func validName(name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen || strings.TrimSpace(name) != name {
		return fmt.Errorf("name: 1 to %d characters, no surrounding spaces", MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("name: no control characters")
		}
	}
	return nil
}

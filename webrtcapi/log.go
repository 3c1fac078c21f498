package webrtcapi

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/pion/logging"
)

// NewLoggerFactory returns a pion LoggerFactory that sends pion's logs to
// log: errors as warnings, the rest at debug level.
func NewLoggerFactory(log *slog.Logger) logging.LoggerFactory { return &pionLoggerFactory{log: log} }

// pionLoggerFactory makes one logger per scope and hands it to every
// PeerConnection: pion asks for about ten for each, and a logger of its
// own (a copy of the handler's state) cost every viewer 2 KB.
type pionLoggerFactory struct {
	log    *slog.Logger
	scopes sync.Map // scope to *pionLogger
}

func (f *pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	if l, ok := f.scopes.Load(scope); ok {
		return l.(*pionLogger)
	}
	l, _ := f.scopes.LoadOrStore(scope, &pionLogger{log: f.log.With("scope", scope)})
	return l.(*pionLogger)
}

type pionLogger struct{ log *slog.Logger }

func (l *pionLogger) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l *pionLogger) Trace(msg string)                  {}
func (l *pionLogger) Tracef(format string, args ...any) {}
func (l *pionLogger) Debug(msg string)                  { l.logf(slog.LevelDebug, "%s", msg) }
func (l *pionLogger) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Info(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l *pionLogger) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Warn(msg string)                   { l.logf(slog.LevelDebug, "%s", msg) }
func (l *pionLogger) Warnf(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l *pionLogger) Error(msg string)                  { l.logf(slog.LevelWarn, "%s", msg) }
func (l *pionLogger) Errorf(format string, args ...any) { l.logf(slog.LevelWarn, format, args...) }

package roomapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// OpenAPI returns the API's OpenAPI 3.1 document, made from the same route
// table Register uses, so every route is in it.
func (h *Handler) OpenAPI() map[string]any {
	paths := map[string]any{}
	for _, rt := range h.routes() {
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": operationID(rt),
			"tags":        []string{"rooms"},
		}
		var params []any
		for _, name := range pathParams.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": name[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range rt.params {
			params = append(params, map[string]any{"name": p.name, "in": p.in, "description": p.desc, "schema": map[string]any{"type": "string"}})
		}
		if rt.request != "" && rt.request != "Empty" {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "description": "retrying with the same key is applied once", "schema": map[string]any{"type": "string", "maxLength": 64}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		switch rt.auth {
		case authViewer:
			op["security"] = []any{map[string]any{"session": []string{}}}
		case authStaff:
			op["security"] = []any{map[string]any{"session": []string{"moderator", "host"}}}
			op["description"] = "Needs a moderator or host token."
		}
		if rt.path == "/api/v1/session" {
			op["security"] = []any{map[string]any{}, map[string]any{"adminKey": []string{}}}
			op["description"] = "Viewer tokens are anonymous. Moderator and host tokens need the X-Admin-Key header."
		}
		if rt.request != "" {
			op["requestBody"] = map[string]any{"required": rt.request != "Empty", "content": map[string]any{
				"application/json": map[string]any{"schema": ref(rt.request)}}}
		}
		resp := map[string]any{"description": "success"}
		if rt.response != "" {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": ref(rt.response)}}
		}
		if rt.status == 101 {
			resp["description"] = "switching to the WebSocket viewer channel (see the package documentation for its messages)"
		}
		op["responses"] = map[string]any{
			strconv.Itoa(rt.status): resp,
			"default":               map[string]any{"description": "an error", "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}},
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Liveloop rooms API",
			"version":     "1",
			"description": "Chat, polls, Q&A, reactions and moderation of a stream's room. Errors are {\"error\":{\"code\",\"message\"}} with the stable codes listed in the Error schema.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"session":  map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"adminKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-Admin-Key"},
			},
			"schemas": schemas(),
		},
	}
}

// ServeOpenAPI serves the document (the lead mounts it at
// /api/v1/openapi.json, or merges its paths into the node's document).
func (h *Handler) ServeOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, _ := json.MarshalIndent(h.OpenAPI(), "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

var pathParams = regexp.MustCompile(`\{([a-z]+)\}`)

func operationID(rt route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.method))
	for _, part := range strings.Split(strings.TrimPrefix(rt.path, "/api/v1/"), "/") {
		part = strings.Trim(part, "{}")
		part = strings.ReplaceAll(part, "-", "")
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func obj(required []string, props map[string]any) map[string]any {
	o := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var (
	str     = map[string]any{"type": "string"}
	num     = map[string]any{"type": "number"}
	integer = map[string]any{"type": "integer"}
	boolean = map[string]any{"type": "boolean"}
	seq     = map[string]any{"type": "integer", "description": "log sequence of the event (events appended together share it)"}
	when    = map[string]any{"type": "string", "format": "date-time"}
	media   = map[string]any{"type": "number", "minimum": 0, "description": "media time (s) of the frame on the sender's screen"}
	key     = map[string]any{"type": "string", "maxLength": 64, "description": "idempotency key"}
	anyObj  = map[string]any{"type": "object"}
)

func arr(items any) map[string]any { return map[string]any{"type": "array", "items": items} }

func schemas() map[string]any {
	codes := []string{}
	for c := range statusOf {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	chat := obj([]string{"id", "seq", "viewer", "name", "role", "text", "at"}, map[string]any{
		"id": str, "seq": seq, "viewer": str, "name": str, "role": ref("Role"), "text": str, "at": when,
		"mediaTime": map[string]any{"type": "number", "minimum": 0, "description": "media time (s) the message belongs to: the poster's frame on screen, else the stream's newest frame when it was accepted"},
		"heldUntil": when,
	})
	poll := obj([]string{"id", "question", "options", "status", "createdAt"}, map[string]any{
		"id": str, "question": str, "options": arr(str), "multiple": boolean, "maxChoices": integer,
		"changeable": boolean, "results": map[string]any{"enum": []string{"live", "close"}}, "duration": num,
		"status": map[string]any{"enum": []string{"draft", "open", "closed"}}, "createdAt": when,
		"openedAt": when, "closesAt": when, "closedAt": when,
		"tally":  map[string]any{"type": "array", "items": integer, "description": "absent while the results are hidden from the caller"},
		"voters": integer,
	})
	question := obj([]string{"id", "seq", "viewer", "name", "text", "at", "status", "upvotes", "answered"}, map[string]any{
		"id": str, "seq": seq, "viewer": str, "name": str, "text": str, "at": when, "mediaTime": media,
		"status": map[string]any{"enum": []string{"pending", "visible", "hidden"}}, "upvotes": integer, "answered": boolean,
	})
	return map[string]any{
		"Error": obj([]string{"error"}, map[string]any{"error": obj([]string{"code", "message"}, map[string]any{
			"code": map[string]any{"type": "string", "enum": codes}, "message": str})}),
		"Role":           map[string]any{"enum": []string{"viewer", "moderator", "host"}},
		"SessionRequest": obj(nil, map[string]any{"name": map[string]any{"type": "string", "maxLength": MaxNameLen}, "role": ref("Role")}),
		"Session":        obj([]string{"token", "viewer", "name", "role", "expiresAt"}, map[string]any{"token": str, "viewer": str, "name": str, "role": ref("Role"), "expiresAt": when}),
		"Command": obj([]string{"type"}, map[string]any{
			"type": map[string]any{"enum": []string{"chat.send", "chat.delete", "chat.pin", "chat.unpin", "chat.slow", "chat.sync", "mod.ban", "mod.timeout", "mod.unban",
				"poll.create", "poll.open", "poll.close", "poll.vote", "qa.ask", "qa.upvote", "qa.approve", "qa.hide", "qa.answer", "react"}},
			"key": key, "mediaTime": media, "text": str, "id": str, "viewer": str, "seconds": num,
			"choices": arr(integer), "poll": ref("PollSpec"), "emoji": str, "count": integer, "enabled": boolean,
		}),
		"Result":      obj(nil, map[string]any{"seq": seq, "id": str}),
		"Empty":       obj(nil, map[string]any{"key": key, "mediaTime": media}),
		"ChatPost":    obj([]string{"text"}, map[string]any{"text": str, "key": key, "mediaTime": media}),
		"IDBody":      obj([]string{"id"}, map[string]any{"id": str, "key": key, "mediaTime": media}),
		"EnabledBody": obj([]string{"enabled"}, map[string]any{"enabled": boolean, "key": key, "mediaTime": media}),
		"SecondsBody": obj([]string{"seconds"}, map[string]any{"seconds": num, "key": key, "mediaTime": media}),
		"BanBody":     obj([]string{"viewer"}, map[string]any{"viewer": str, "seconds": num, "key": key, "mediaTime": media}),
		"VoteBody":    obj([]string{"choices"}, map[string]any{"choices": arr(integer), "key": key, "mediaTime": media}),
		"ReactBody":   obj([]string{"emoji"}, map[string]any{"emoji": str, "count": integer, "key": key, "mediaTime": media}),
		"PollSpec": obj([]string{"question", "options"}, map[string]any{
			"question": str, "options": arr(str), "multiple": boolean, "maxChoices": integer, "changeable": boolean,
			"results": map[string]any{"enum": []string{"live", "close"}}, "duration": num, "open": boolean, "key": key, "mediaTime": media,
		}),
		"ChatMessage":  chat,
		"ChatList":     obj([]string{"messages"}, map[string]any{"messages": arr(ref("ChatMessage")), "pinned": ref("ChatMessage"), "slowMode": num}),
		"Poll":         poll,
		"PollList":     obj([]string{"polls"}, map[string]any{"polls": arr(ref("Poll"))}),
		"Question":     question,
		"QuestionList": obj([]string{"questions"}, map[string]any{"questions": arr(ref("Question"))}),
		"Bans":         obj([]string{"bans"}, map[string]any{"bans": map[string]any{"type": "object", "additionalProperties": true, "description": "viewer -> \"permanent\" or the end of the timeout"}}),
		"Snapshot": obj([]string{"seq", "viewers", "chat", "slowMode", "questions"}, map[string]any{
			"seq": seq, "viewers": integer, "chat": arr(ref("ChatMessage")), "pinned": ref("ChatMessage"), "slowMode": num,
			"chatSync": map[string]any{"type": "boolean", "description": "spoiler-free chat: pages show each message when the viewer's picture reaches its mediaTime"},
			"poll":     ref("Poll"), "questions": arr(ref("Question")), "bans": anyObj,
		}),
	}
}

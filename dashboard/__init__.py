"""The staff-facing web app: API, pages, WebSocket fan-out."""

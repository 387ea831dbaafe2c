"""The dispute-mediation domain: disputes, the Fengqiao flow, reminders, reports."""

"""The content plan: rubric cadences, memorable dates, posting slots, the plan view, its calendar and reminders.

The team works from a monthly plan and a calendar of memorable dates; missing a rubric's deadline is its main
risk. This package turns the directory's rubrics (``cadence``, ``slots``, ``owner``, ``paused``) and the dates
file into expected slots, matches them with the posts in the queue, and says which are empty:

- ``cadence``: when a rubric is due (every N days, weekly/biweekly on weekdays, monthly on a day); pure;
- ``dates``: the memorable dates file (``PUBLISHER_DATES_FILE``) and importing an iCalendar file into it;
- ``slots``: the candidate times for ``publish_at: slot`` (the store picks the first free one atomically);
- ``build``: the plan of a period, day by day; ``ics``: the same as RFC 5545; ``remind``: the daily reminders.
"""

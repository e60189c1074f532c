# Shared pieces of every message: greetings, dates, footers.
# Arguments are written { $like_this }; keep every argument of a message in each translation.

## Greetings

# A letter's first line, with the reader's first name.
hello-name = Hello { $name },
# The same when no name is known.
hello = Hello,

## Dates and times, in the reader's time zone

weekday-1 = Monday
weekday-2 = Tuesday
weekday-3 = Wednesday
weekday-4 = Thursday
weekday-5 = Friday
weekday-6 = Saturday
weekday-7 = Sunday

month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December

# A date and time within the coming days, e.g. "Friday 4 December, 18:00".
# $weekday and $month are the names above; $day is the day of the month; $time is HH:MM.
datetime-short = { $weekday } { $day } { $month }, { $time }
# A date and time with the year, e.g. "4 December 2026, 18:00".
datetime-long = { $day } { $month } { $year }, { $time }

## Footers and shared sentences

# Link text of the one-click unsubscribe link under patient emails.
unsubscribe-link = Stop aftercare reminder emails
# The same in the plain-text part, followed by the link.
unsubscribe-text = To stop aftercare reminder emails: { $url }
# Closing line of an invitation that may reach the wrong person.
ignore-if-unexpected = If you did not expect it, you can ignore this email.

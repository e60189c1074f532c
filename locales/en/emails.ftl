# The emails. Each group is one template under templates/<name>/.

## reminder (to a patient). The reminder's own title and text are in reminders.ftl.

reminder-please-avoid = Please avoid:
reminder-open-app = Open in the app
reminder-open-app-text = Open in the app: { $url }
# $time is datetime-short, $zone the IANA zone name, $day_label is reminder-day.
reminder-when = This reminder is for { $time } ({ $zone }), { $day_label } at { $clinic }.
# $day counts days since the treatment (0 is the day itself).
reminder-day =
    { $day ->
        [0] the day of your treatment
        [1] the day after your treatment
       *[other] day { $day } after your treatment
    }
# Only said when a reply reaches the clinic.
reminder-questions-reply = Questions or worries? Reply to this email or call your clinic.
reminder-questions-call = Questions or worries? Call your clinic.

## checkin_nudge (to a patient who missed check-ins)

nudge-subject = We haven't heard from you: how is your skin?
nudge-title = How is your skin?
nudge-body = We haven't had your last two check-ins. A quick update on redness and comfort helps { $clinic } make sure your skin is healing as expected.
nudge-button = Check in
nudge-button-text = Check in: { $url }
nudge-worry = If something worries you (warmth, pus, fever, blisters), contact your clinic now.

## patient_invitation (to a new patient)

patient-invitation-subject = { $clinic } invites you to the Aftercare app
patient-invitation-title = Your Aftercare invitation
patient-invitation-intro = { $clinic } uses the Aftercare app to guide you through your treatment: reminders for your aftercare, quick check-ins on how your skin is recovering, and your progress photos.
patient-invitation-button = Set up your account
patient-invitation-link-text = Set up your account here:
patient-invitation-code = If the app asks for a code, use:
# $expires is datetime-long followed by the time zone.
patient-invitation-expiry = This link can be used once and expires on { $expires }.

## invitation (to a new staff member)

invitation-subject = You're invited to { $clinic } on Aftercare
invitation-title = Your invitation
invitation-intro =
    { $role ->
        [admin] { $clinic } has invited you to join Aftercare as an administrator.
       *[other] { $clinic } has invited you to join Aftercare as a clinician.
    }
invitation-button = Choose your password
invitation-link-text = Choose your password here:
invitation-code = If your app asks for a code, use:
invitation-expiry = This invitation can be used once and expires on { $expires }.
invitation-signature = Aftercare for { $clinic }

## existing_account (to an address that already has an account, instead of an invitation)

existing-account-subject = { $clinic } tried to invite you to Aftercare
existing-account-title = An invitation for an existing account
existing-account-body = Someone at { $clinic } tried to invite this email address to Aftercare. You already have an Aftercare account with this address, so no new account was set up and there is nothing to accept.
existing-account-contact = If you expected this invitation, please contact { $clinic } directly: they may need to use another email address for you.

## urgent_alert (to staff)

alert-subject = Urgent: a patient needs review ({ $reason })
alert-title = Urgent alert
alert-intro = An aftercare check-in needs a clinician's attention at { $clinic }.
alert-reason = Reason:
alert-button = Open the alert
alert-sign-in = Patient details are shown only after you sign in.
alert-link-text = Open the alert (patient details are shown only after you sign in):

## password_reset (to the owner of an account that asked for a reset link)

reset-subject = Reset your Aftercare password
reset-title = Reset your password
reset-intro = Someone asked to reset the password of your Aftercare account at { $clinic }.
reset-button = Choose a new password
reset-link-text = Choose a new password here:
reset-code = If your app asks for a code, use:
# $expires is datetime-long followed by the time zone.
reset-expiry = This link can be used once and expires on { $expires } (in one hour). Setting a new password signs you out on every device.
reset-not-you = If you did not ask for this, you can ignore this email: your password stays as it is.

## password_changed (after a password was set, by a reset link or by the signed-in owner)

changed-subject = Your Aftercare password was changed
changed-title = Your password was changed
# $at is datetime-long followed by the time zone.
changed-intro = The password of your Aftercare account at { $clinic } was changed on { $at }.
changed-how =
    { $by_reset ->
        [yes] It was set with a password reset link sent to this address.
       *[no] It was changed from a signed-in app or browser.
    }
changed-signed-out = Every device that was signed in has been signed out.
changed-was-you = If this was you, there is nothing more to do.
changed-not-you = If it was not you, choose a new password now and tell { $clinic }, so they can check your account.
changed-button = Reset my password
changed-link-text = Reset your password here:

## account_deleted (to a patient who deleted their own account)

deleted-subject = Your Aftercare account was deleted
deleted-title = Your account was deleted
# $at is datetime-long followed by the time zone.
deleted-intro = As you asked, your Aftercare account at { $clinic } was deleted on { $at }, with everything it held: your treatment record, check-ins, photos, scores, reminders and consents. You will get no more reminders from Aftercare.
deleted-final = This cannot be undone. If you want to use Aftercare again, ask { $clinic } to invite you.
deleted-not-you = If you did not ask for this, contact { $clinic } straight away.

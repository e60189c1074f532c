# Los correos. Cada grupo es una plantilla de templates/<nombre>/.

## reminder (a un paciente)

reminder-please-avoid = Evite:
reminder-open-app = Abrir en la app
reminder-open-app-text = Abrir en la app: { $url }
reminder-when = Este recordatorio de { $clinic } es para el { $time } ({ $zone }), { $day_label }.
reminder-day =
    { $day ->
        [0] el día de su tratamiento
        [1] el día siguiente a su tratamiento
       *[other] el día { $day } después de su tratamiento
    }
reminder-questions-reply = ¿Dudas o preocupaciones? Responda a este correo o llame a su clínica.
reminder-questions-call = ¿Dudas o preocupaciones? Llame a su clínica.

## checkin_nudge (a un paciente que no ha enviado sus registros)

nudge-subject = No hemos sabido de usted: ¿cómo está su piel?
nudge-title = ¿Cómo está su piel?
nudge-body = No hemos recibido sus dos últimos registros de seguimiento. Unos datos rápidos sobre el enrojecimiento y las molestias ayudan a { $clinic } a comprobar que su piel se está recuperando como se espera.
nudge-button = Enviar mi registro
nudge-button-text = Enviar mi registro: { $url }
nudge-worry = Si algo le preocupa (calor en la zona, pus, fiebre, ampollas), contacte ahora con su clínica.

## patient_invitation (a un paciente nuevo)

patient-invitation-subject = { $clinic } le invita a la app Aftercare
patient-invitation-title = Su invitación a Aftercare
patient-invitation-intro = { $clinic } utiliza la app Aftercare para acompañarle durante su tratamiento: recordatorios de sus cuidados posteriores, registros rápidos de cómo se recupera su piel y sus fotos de evolución.
patient-invitation-button = Crear su cuenta
patient-invitation-link-text = Cree su cuenta aquí:
patient-invitation-code = Si la app le pide un código, use:
patient-invitation-expiry = Este enlace solo puede usarse una vez y caduca el { $expires }.

## invitation (a un nuevo miembro del equipo)

invitation-subject = Invitación a { $clinic } en Aftercare
invitation-title = Su invitación
invitation-intro =
    { $role ->
        [admin] { $clinic } le ha invitado a unirse a Aftercare como administrador.
       *[other] { $clinic } le ha invitado a unirse a Aftercare como profesional clínico.
    }
invitation-button = Elegir su contraseña
invitation-link-text = Elija su contraseña aquí:
invitation-code = Si su app le pide un código, use:
invitation-expiry = Esta invitación solo puede usarse una vez y caduca el { $expires }.
invitation-signature = Aftercare para { $clinic }

## existing_account (a una dirección que ya tiene cuenta, en lugar de una invitación)

existing-account-subject = { $clinic } ha intentado invitarle a Aftercare
existing-account-title = Una invitación para una cuenta que ya existe
existing-account-body = Alguien de { $clinic } ha intentado invitar a esta dirección de correo a Aftercare. Usted ya tiene una cuenta de Aftercare con esta dirección, así que no se ha creado ninguna cuenta nueva y no hay nada que aceptar.
existing-account-contact = Si esperaba esta invitación, póngase en contacto directamente con { $clinic }: puede que necesiten usar otra dirección de correo para usted.

## urgent_alert (al equipo)

alert-subject = Urgente: un paciente necesita revisión ({ $reason })
alert-title = Alerta urgente
alert-intro = Un registro de seguimiento requiere la atención de un profesional clínico en { $clinic }.
alert-reason = Motivo:
alert-button = Abrir la alerta
alert-sign-in = Los datos del paciente solo se muestran después de iniciar sesión.
alert-link-text = Abrir la alerta (los datos del paciente solo se muestran después de iniciar sesión):

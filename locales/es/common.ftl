# Partes comunes de todos los mensajes: saludos, fechas, pies de página.
# Los argumentos se escriben { $asi }; cada traducción conserva todos los argumentos del mensaje.

## Saludos

hello-name = Hola, { $name }:
hello = Hola:

## Fechas y horas, en la zona horaria del lector

weekday-1 = lunes
weekday-2 = martes
weekday-3 = miércoles
weekday-4 = jueves
weekday-5 = viernes
weekday-6 = sábado
weekday-7 = domingo

month-1 = enero
month-2 = febrero
month-3 = marzo
month-4 = abril
month-5 = mayo
month-6 = junio
month-7 = julio
month-8 = agosto
month-9 = septiembre
month-10 = octubre
month-11 = noviembre
month-12 = diciembre

# Por ejemplo "viernes 4 de diciembre, 18:00".
datetime-short = { $weekday } { $day } de { $month }, { $time }
# Por ejemplo "4 de diciembre de 2026, 18:00".
datetime-long = { $day } de { $month } de { $year }, { $time }

## Pies de página y frases comunes

unsubscribe-link = Dejar de recibir recordatorios de cuidados por correo
unsubscribe-text = Para dejar de recibir recordatorios de cuidados por correo: { $url }
ignore-if-unexpected = Si no esperaba este mensaje, puede ignorarlo.

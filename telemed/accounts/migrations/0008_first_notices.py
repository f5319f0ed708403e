"""The first published privacy notice (GDPR art. 13) and terms of service, version 2026-12."""

import datetime

from django.db import migrations

VERSION = "2026-12"
IN_FORCE_FROM = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)

PRIVACY = """Titolare del trattamento è telemed S.r.l. (di seguito «telemed»), contattabile all'indirizzo di assistenza indicato nel sito. Il responsabile della protezione dei dati (DPO) è raggiungibile allo stesso indirizzo.

Trattiamo i dati del tuo account (nome, codice fiscale, e-mail, telefono) per fornirti il servizio (art. 6.1.b GDPR) e i dati di fatturazione e pagamento per obbligo di legge (art. 6.1.c). Trattiamo i tuoi dati sanitari — documenti, studi radiologici, referti, prescrizioni, consulti, messaggi e visite — solo con il tuo consenso esplicito (art. 9.2.a), che puoi revocare in ogni momento.

Lo spazio clinico condiviso (simile a un dossier sanitario) permette ai medici che scegli di vedere i documenti e gli studi che condividi con loro. Richiede un consenso separato e facoltativo: senza di esso puoi comunque usare la tua Welbox. Puoi oscurare un singolo documento o studio a tutti i medici, e annullare l'oscuramento.

I referti e le prescrizioni che un medico firma restano anche nel suo archivio: per quei dati il medico è titolare autonomo. Le fatture e le registrazioni contabili sono conservate per 10 anni (art. 2220 c.c.); il registro degli accessi ai tuoi dati per almeno 24 mesi. Gli altri dati sono conservati finché hai un account, secondo le regole elencate nel registro dei trattamenti.

I dati sono conservati nell'Unione europea e non sono ceduti a terzi; li vedono solo i medici che autorizzi e, per assistenza, il personale di telemed, i cui accessi ai contenuti clinici sono registrati nel registro che puoi consultare.

Hai diritto di accesso, rettifica, cancellazione, limitazione, portabilità e opposizione (artt. 15–22 GDPR) e di proporre reclamo al Garante per la protezione dei dati personali (www.garanteprivacy.it)."""

TERMS = """telemed mette in contatto pazienti e medici iscritti all'Ordine. I medici rispondono personalmente delle loro prestazioni; telemed fornisce la piattaforma, la custodia dei documenti e la gestione dei pagamenti.

Il paziente vede il prezzo di ogni servizio prima di confermarlo; i pagamenti avvengono con bonifico e le fatture sono emesse a nome del medico.

telemed non è un servizio di emergenza: in caso di urgenza chiama il 112.

Ognuno è responsabile della riservatezza delle proprie credenziali. Puoi chiudere il tuo account in ogni momento; ciò che la legge impone di conservare resta conservato per il tempo previsto."""


def publish(apps, schema_editor):
    Notice = apps.get_model("accounts", "Notice")
    for kind, body in (("privacy", PRIVACY), ("terms", TERMS)):
        Notice.objects.get_or_create(kind=kind, version=VERSION, defaults={"body": body, "published_at": IN_FORCE_FROM})


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_notices_and_consents")]

    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
